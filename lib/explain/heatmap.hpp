#pragma once
// Pictures of explanations: the image as the model saw it (its input tensor turned back into
// pixels), a heat map (OpenCV's JET colour map, blue = 0, red = 1) blended over it with a colour
// scale under it, and captioned panels to put side by side.
#include <opencv2/core.hpp>
#include <string>
#include <vector>

#include "io/model_config.hpp"

namespace vitc {

// The model's input [channels, height, width] (what preprocess_image made: RGB order, rescaled
// and normalised by `p`) back as 8-bit BGR pixels: normalisation and rescaling undone, clipped to
// 0..255; one channel is shown grey, as the model saw it. Exactly the pixels the model read, so a
// map over its input lines up with them.
cv::Mat model_view(const float* input, int channels, int height, int width, const Preprocessing& p);

// Scales an image so that its longer side is `side` pixels.
cv::Mat enlarged(const cv::Mat& image, int side);

// map [height * width] in [0, 1], resized bilinearly to the image and blended half and half.
cv::Mat overlay_heatmap(const cv::Mat& image, const std::vector<float>& map, int64_t height, int64_t width);

// The picture with a colour scale under it, kScaleHeight pixels: "low", the colour map from 0
// to 1, "high" (the maps are normalised per image: relative evidence, not a probability).
constexpr int kScaleHeight = 22;
cv::Mat with_colour_scale(const cv::Mat& picture);

// The image with title lines above and a caption line below, on white.
cv::Mat captioned(const cv::Mat& image, const std::vector<std::string>& title, const std::string& caption);

// Panels left to right with a white gap, aligned at the top.
cv::Mat side_by_side(const std::vector<cv::Mat>& panels);

}  // namespace vitc
