#pragma once
// The model's own preprocessing: channel conversion, resize, centre crop, rescale, normalise.
#include <opencv2/core.hpp>

#include "io/model_config.hpp"

namespace vitc {

// Converts a decoded image (8/16-bit, 1/3/4 channels, BGR order) into the model's input:
// [channels, p.output_height(), p.output_width()] floats written to `out`.
// Colour to gray uses ITU-R 601 luma (as PIL's convert("L")); gray to colour repeats the channel;
// alpha is dropped. 16-bit values are scaled to the 8-bit range before rescale_factor.
void preprocess_image(const cv::Mat& decoded, const Preprocessing& p, int channels, float* out);

}  // namespace vitc
