#pragma once
// The model's own preprocessing: channel conversion, resize, centre crop, rescale, normalise.
#include <opencv2/core.hpp>

#include "io/model_config.hpp"

namespace vitc {

// Converts a decoded image (8/16-bit, 1/3/4 channels, BGR order) into the model's input:
// [channels, p.output_height(), p.output_width()] floats written to `out`.
// Colour to gray uses ITU-R 601 luma (as PIL's convert("L")); gray to colour repeats the channel;
// alpha is dropped. 16-bit values are scaled to the 8-bit range before rescale_factor.
// Throws Error when an intermediate image would pass max_pixels or an output is not finite.
void preprocess_image(const cv::Mat& decoded, const Preprocessing& p, int channels, float* out,
                      int64_t max_pixels = 100'000'000);

// The size the resize step makes of a decoded image (before any centre crop).
cv::Size resized_size(const cv::Size& decoded, const Preprocessing& p);

}  // namespace vitc
