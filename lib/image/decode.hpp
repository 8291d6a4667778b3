#pragma once
// Decoding any image OpenCV reads, with EXIF orientation applied. Files are read into memory
// first (size-bounded) so that errors name the file and the reason.
#include <opencv2/core.hpp>
#include <string>

namespace vitc {

struct DecodeLimits {
    int64_t max_file_bytes = int64_t(1) << 30;
    int64_t max_pixels = 100'000'000;  // larger images are refused (decompression bombs)
};

// Returns an 8- or 16-bit image with 1, 3 (BGR) or 4 (BGRA) channels; throws ImageError.
cv::Mat decode_image(const std::string& path, const DecodeLimits& limits = {});
cv::Mat decode_image_bytes(const std::vector<unsigned char>& bytes, const std::string& name,
                           const DecodeLimits& limits = {});

}  // namespace vitc
