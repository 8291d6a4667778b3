#pragma once
// Explanations as pictures: the input as the model saw it, and each map blended over it,
// captioned with the model's name, the method, and the predicted label with its probability.
#include <opencv2/core.hpp>
#include <string>
#include <vector>

#include "explain/explainer.hpp"

namespace vitc {

constexpr int kPanelSide = 224;  // pixels on the longer side of each picture

// The decoded image as `model` sees it (resized, cropped), enlarged, with two title lines and a caption.
cv::Mat input_panel(const cv::Mat& decoded, const Model& model, const std::vector<std::string>& title,
                    const std::string& caption, int side = kPanelSide);

// One panel per explanation in `e`, titled "<name> (<h>x<w> map)" and "<method>", captioned
// "<label> <prob>%". (A 1x1 map, e.g. a CNN's last feature map on a small input, is uniform.)
std::vector<cv::Mat> explanation_panels(const cv::Mat& decoded, const Model& model, const ExplainedImage& e,
                                        const std::string& name, int side = kPanelSide);

// "Trouser 98.7%"
std::string prediction_caption(const Model& model, const ExplainedImage& e);

}  // namespace vitc
