#include "image/decode.hpp"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <opencv2/imgcodecs.hpp>

#include "errors.hpp"

namespace vitc {

cv::Mat decode_image_bytes(const std::vector<unsigned char>& bytes, const std::string& name,
                           const DecodeLimits& limits) {
    if (bytes.empty()) throw ImageError(name, "empty file");
    cv::Mat image;
    try {
        // ANYCOLOR|ANYDEPTH keeps gray as gray and 16-bit as 16-bit, and (unlike UNCHANGED)
        // applies the EXIF orientation.
        image = cv::imdecode(bytes, cv::IMREAD_ANYCOLOR | cv::IMREAD_ANYDEPTH);
    } catch (const cv::Exception& e) {
        throw ImageError(name, std::string("cannot decode: ") + e.what());
    }
    if (image.empty()) throw ImageError(name, "not an image OpenCV can decode (or truncated)");
    if (static_cast<int64_t>(image.rows) * image.cols > limits.max_pixels)
        throw ImageError(name, std::to_string(image.cols) + "x" + std::to_string(image.rows) +
                                   " pixels exceeds the limit of " + std::to_string(limits.max_pixels));
    if (image.depth() == CV_32F || image.depth() == CV_64F) {  // HDR/EXR: clamp to [0, 1] as 16-bit
        cv::Mat converted;
        image.convertTo(converted, CV_16U, 65535.0);
        image = converted;
    } else if (image.depth() != CV_8U && image.depth() != CV_16U) {
        cv::Mat converted;
        image.convertTo(converted, CV_8U);
        image = converted;
    }
    if (image.channels() != 1 && image.channels() != 3 && image.channels() != 4)
        throw ImageError(name, "has " + std::to_string(image.channels()) + " channels; expected 1, 3 or 4");
    return image;
}

cv::Mat decode_image(const std::string& path, const DecodeLimits& limits) {
    std::ifstream in(path, std::ios::binary | std::ios::ate);
    if (!in) throw ImageError(path, std::string("cannot open: ") + std::strerror(errno));
    const std::streamoff size = in.tellg();
    if (size < 0) throw ImageError(path, "cannot read (not a regular file?)");
    if (size > limits.max_file_bytes)
        throw ImageError(path, "file is " + std::to_string(size) + " bytes, over the limit of " +
                                   std::to_string(limits.max_file_bytes));
    std::vector<unsigned char> bytes(static_cast<size_t>(size));
    in.seekg(0);
    if (size && !in.read(reinterpret_cast<char*>(bytes.data()), size)) throw ImageError(path, "read failed");
    return decode_image_bytes(bytes, path, limits);
}

}  // namespace vitc
