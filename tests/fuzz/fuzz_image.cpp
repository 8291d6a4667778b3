// libFuzzer harness: arbitrary bytes as an image file, through decoding and the preprocessing of a
// gray 28x28 and an RGB 32x32 centre-cropped model. Must never crash; bad input is an ImageError.
#include <cstdint>
#include <vector>

#include "errors.hpp"
#include "image/decode.hpp"
#include "image/preprocess.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::vector<unsigned char> bytes(data, data + size);
    vitc::DecodeLimits limits;
    limits.max_pixels = 4'000'000;  // keeps each run fast; the limit itself is what is tested
    try {
        const cv::Mat image = vitc::decode_image_bytes(bytes, "fuzz-input", limits);
        vitc::Preprocessing gray;
        gray.resize_height = gray.resize_width = 28;
        gray.mean = {0.5f};
        gray.std = {0.5f};
        std::vector<float> out(28 * 28);
        vitc::preprocess_image(image, gray, 1, out.data());

        vitc::Preprocessing rgb;
        rgb.resize = vitc::Preprocessing::Resize::ShortestEdge;
        rgb.shortest_edge = 36;
        rgb.crop_height = rgb.crop_width = 32;
        rgb.interpolation = vitc::Interpolation::Bicubic;
        rgb.mean = {0.5f, 0.5f, 0.5f};
        rgb.std = {0.5f, 0.5f, 0.5f};
        std::vector<float> out_rgb(3 * 32 * 32);
        vitc::preprocess_image(image, rgb, 3, out_rgb.data());
    } catch (const vitc::Error&) {
    }
    return 0;
}
