#pragma once
// The model's own preprocessing: channel conversion, resize, centre crop, rescale, normalise.
#include <opencv2/core.hpp>
#include <string>
#include <vector>

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

// What the preprocessing does to an image that the model was not made for, so that an answer about
// a colour photo squashed to a grey 28x28 says so. A bit set of these:
enum InputConversion : uint32_t {
    kColourToGrey = 1,    // colour pixels (not R = G = B) averaged to grey
    kGreyToColour = 2,    // one channel repeated for a colour model
    kAlphaDropped = 4,    // transparent pixels made opaque
    kAspectChanged = 8,   // stretched: the width/height ratio moved by more than 2%
    kUpscaled = 16,       // smaller than the model's input, enlarged
};
uint32_t input_conversions(const cv::Mat& decoded, const Preprocessing& p, int channels);
std::vector<std::string> conversion_names(uint32_t conversions);  // "colour to grey", ...

}  // namespace vitc
