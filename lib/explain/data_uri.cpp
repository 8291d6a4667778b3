#include "explain/data_uri.hpp"

#include <opencv2/imgcodecs.hpp>

#include "errors.hpp"

namespace vitc {

std::vector<unsigned char> encode_png(const cv::Mat& image) {
    std::vector<unsigned char> bytes;
    if (image.empty() || !cv::imencode(".png", image, bytes))
        throw Error("cannot encode a " + std::to_string(image.cols) + "x" + std::to_string(image.rows) + " picture as PNG");
    return bytes;
}

std::string base64_encode(const std::vector<unsigned char>& bytes) {
    static const char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    out.reserve((bytes.size() + 2) / 3 * 4);
    size_t i = 0;
    for (; i + 2 < bytes.size(); i += 3) {  // 3 bytes -> 4 characters of 6 bits
        const unsigned v = bytes[i] << 16 | bytes[i + 1] << 8 | bytes[i + 2];
        for (int shift : {18, 12, 6, 0}) out += kAlphabet[(v >> shift) & 63];
    }
    if (i < bytes.size()) {  // 1 or 2 bytes left: pad with '='
        const unsigned v = bytes[i] << 16 | (i + 1 < bytes.size() ? bytes[i + 1] << 8 : 0);
        out += kAlphabet[(v >> 18) & 63];
        out += kAlphabet[(v >> 12) & 63];
        out += i + 1 < bytes.size() ? kAlphabet[(v >> 6) & 63] : '=';
        out += '=';
    }
    return out;
}

std::string png_data_uri(const cv::Mat& image) { return "data:image/png;base64," + base64_encode(encode_png(image)); }

}  // namespace vitc
