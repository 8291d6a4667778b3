#pragma once
// Pictures as bytes: PNG encoding, and base64 data URIs so that an HTML report is one file.
#include <opencv2/core.hpp>
#include <string>
#include <vector>

namespace vitc {

std::vector<unsigned char> encode_png(const cv::Mat& image);  // throws Error

// RFC 4648 base64 with padding.
std::string base64_encode(const std::vector<unsigned char>& bytes);

// "data:image/png;base64,..."
std::string png_data_uri(const cv::Mat& image);

}  // namespace vitc
