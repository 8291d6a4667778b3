#pragma once
// Pictures of explanations: the image as the model saw it, a heat map (OpenCV's JET colour map,
// blue = 0, red = 1) blended over it, and captioned panels to put side by side.
#include <opencv2/core.hpp>
#include <string>
#include <vector>

#include "io/model_config.hpp"

namespace vitc {

// A decoded image (8/16-bit, 1/3/4 channels) as 8-bit BGR, resized and centre-cropped the way
// `p` does it, so that a map over the model's input lines up with it.
cv::Mat model_view(const cv::Mat& decoded, const Preprocessing& p);

// Scales an image so that its longer side is `side` pixels.
cv::Mat enlarged(const cv::Mat& image, int side);

// map [height * width] in [0, 1], resized bilinearly to the image and blended half and half.
cv::Mat overlay_heatmap(const cv::Mat& image, const std::vector<float>& map, int64_t height, int64_t width);

// The image with title lines above and a caption line below, on white.
cv::Mat captioned(const cv::Mat& image, const std::vector<std::string>& title, const std::string& caption);

// Panels left to right with a white gap, aligned at the top.
cv::Mat side_by_side(const std::vector<cv::Mat>& panels);

}  // namespace vitc
