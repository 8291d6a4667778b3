#pragma once
// Reading an image's width and height from its header, without decoding it, so that a
// decompression bomb (a tiny file declaring billions of pixels) is refused before OpenCV
// allocates anything. Knows PNG, JPEG, GIF, BMP, WebP, PNM and TIFF; other formats return
// nothing and rely on OpenCV's own limit (2^30 pixels).
#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

namespace vitc {

struct ImageSize {
    int64_t width = 0, height = 0;
};

std::optional<ImageSize> peek_image_size(const std::vector<unsigned char>& bytes);

}  // namespace vitc
