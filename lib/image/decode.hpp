#pragma once
// Decoding any image OpenCV reads, with EXIF orientation applied. Files are read into memory
// first (size-bounded) so that errors name the file and the reason.
#include <opencv2/core.hpp>
#include <string>

namespace vitc {

struct DecodeLimits {
    int64_t max_file_bytes = int64_t(256) << 20;
    // Larger images are refused (decompression bombs), from the header before decoding, and so is
    // any intermediate image of the preprocessing (a resize to 30,000 pixels before a small crop).
    int64_t max_pixels = 100'000'000;
    // Decoded bytes, from the header's size and sample format: a 6 MB HDR file can declare 100
    // million float pixels (1.2 GB).
    int64_t max_decoded_bytes = int64_t(512) << 20;
    int64_t max_jpeg_scans = 256;  // libjpeg's own progressive files have about 10

    // Where set, Classifier decodes in a child process started from this executable (see
    // image/isolated_loader.hpp), stopped after timeout_seconds and limited to worker_memory_bytes.
    std::string worker_executable;
    bool strict_input = false;  // refuse images the preprocessing converts (see input_conversions)
    double timeout_seconds = 20;
    int64_t worker_memory_bytes = int64_t(1) << 30;
};

// Returns an 8- or 16-bit image with 1, 3 (BGR) or 4 (BGRA) channels; throws ImageError.
cv::Mat decode_image(const std::string& path, const DecodeLimits& limits = {});
cv::Mat decode_image_bytes(const std::vector<unsigned char>& bytes, const std::string& name,
                           const DecodeLimits& limits = {});

}  // namespace vitc
