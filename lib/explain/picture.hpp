#pragma once
// Explanations as pictures: the input as the model saw it (its preprocessed input tensor shown as
// pixels), and each map blended over it with a colour scale, captioned with the model's name,
// the method, and the predicted label with its probability.
#include <opencv2/core.hpp>
#include <string>
#include <vector>

#include "explain/explainer.hpp"

namespace vitc {

constexpr int kPanelSide = 224;  // pixels on the longer side of each picture

// input: the model's preprocessed input [C, H, W] for one image (preprocess_image's output).
// The input as pixels, enlarged, with two title lines and a caption (blank below the picture
// where the map panels have their colour scale, so that the captions line up).
cv::Mat input_panel(const float* input, const Model& model, const std::vector<std::string>& title,
                    const std::string& caption, int side = kPanelSide);

// What the model reads, e.g. "grey 28x28 input" or "RGB 224x224 input".
std::string input_description(const Model& model);

// One panel per explanation in `e`, titled "<name> (<h>x<w> map)" and "<method>", captioned
// "<label> <prob>%". (A 1x1 map, e.g. a CNN's last feature map on a small input, is uniform.)
std::vector<cv::Mat> explanation_panels(const float* input, const Model& model, const ExplainedImage& e,
                                        const std::string& name, int side = kPanelSide);

// "Trouser 98.7%"
std::string prediction_caption(const Model& model, const ExplainedImage& e);

}  // namespace vitc
