#pragma once
// Reading an image's width and height from its header, without decoding it, so that a
// decompression bomb (a tiny file declaring billions of pixels) is refused before OpenCV
// allocates anything. Knows PNG, JPEG, GIF, BMP, WebP, PNM, TIFF and Radiance HDR; other formats return
// nothing and rely on OpenCV's own limit (2^30 pixels).
#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

namespace vitc {

struct ImageSize {
    int64_t width = 0, height = 0;
    int64_t bytes_per_pixel = 4;  // an upper bound for what OpenCV decodes this format to
};

std::optional<ImageSize> peek_image_size(const std::vector<unsigned char>& bytes);

// Start-of-scan markers in a JPEG stream. Each scan of a progressive JPEG makes the decoder pass
// over every coefficient again, so tens of thousands of empty scans are a CPU bomb in a small file.
int64_t count_jpeg_scans(const std::vector<unsigned char>& bytes);

}  // namespace vitc
