#include "explain/heatmap.hpp"
#include "image/preprocess.hpp"

#include <algorithm>
#include <cmath>
#include <opencv2/imgproc.hpp>

namespace vitc {

namespace {

const cv::Scalar kWhite(255, 255, 255), kInk(30, 30, 30);
constexpr int kFont = cv::FONT_HERSHEY_SIMPLEX;
constexpr double kFontScale = 0.45;
constexpr int kLine = 22;  // pixels per text line
constexpr int kGap = 8;

// The text, shortened with "..." until it fits `width` pixels.
std::string fit(std::string text, int width) {
    int baseline = 0;
    while (text.size() > 3 && cv::getTextSize(text, kFont, kFontScale, 1, &baseline).width > width)
        text = text.substr(0, text.size() - 4) + "...";
    return text;
}

}  // namespace

cv::Mat model_view(const cv::Mat& decoded, const Preprocessing& p) {
    cv::Mat image = decoded;
    if (image.depth() == CV_16U) image.convertTo(image, CV_8U, 255.0 / 65535.0);
    if (image.channels() == 1) cv::cvtColor(image, image, cv::COLOR_GRAY2BGR);
    else if (image.channels() == 4) cv::cvtColor(image, image, cv::COLOR_BGRA2BGR);
    const cv::Size target = resized_size(image.size(), p);
    const int w = target.width, h = target.height;
    if (w != image.cols || h != image.rows) {
        cv::Mat resized;
        cv::resize(image, resized, cv::Size(w, h), 0, 0, w < image.cols || h < image.rows ? cv::INTER_AREA : cv::INTER_LINEAR);
        image = resized;
    }
    if (p.crop_height && p.crop_width) {  // as preprocess_image: pad when smaller, then centre crop
        const int top = std::max(0, (p.crop_height - image.rows) / 2), left = std::max(0, (p.crop_width - image.cols) / 2);
        cv::copyMakeBorder(image, image, top, std::max(0, p.crop_height - image.rows - top), left,
                           std::max(0, p.crop_width - image.cols - left), cv::BORDER_CONSTANT, cv::Scalar::all(0));
        const int y = static_cast<int>(std::lround((image.rows - p.crop_height) / 2.0));
        const int x = static_cast<int>(std::lround((image.cols - p.crop_width) / 2.0));
        image = image(cv::Rect(x, y, p.crop_width, p.crop_height)).clone();
    }
    return image;
}

cv::Mat enlarged(const cv::Mat& image, int side) {
    const double scale = static_cast<double>(side) / std::max(image.cols, image.rows);
    const cv::Size size(std::max(1, static_cast<int>(std::lround(image.cols * scale))),
                        std::max(1, static_cast<int>(std::lround(image.rows * scale))));
    cv::Mat out;
    cv::resize(image, out, size, 0, 0, scale < 1 ? cv::INTER_AREA : cv::INTER_CUBIC);
    return out;
}

cv::Mat overlay_heatmap(const cv::Mat& image, const std::vector<float>& map, int64_t height, int64_t width) {
    cv::Mat grid(static_cast<int>(height), static_cast<int>(width), CV_32F, const_cast<float*>(map.data()));
    cv::Mat smooth, gray, heat, out;
    cv::resize(grid, smooth, image.size(), 0, 0, cv::INTER_LINEAR);
    smooth.convertTo(gray, CV_8U, 255.0);
    cv::applyColorMap(gray, heat, cv::COLORMAP_JET);
    cv::addWeighted(image, 0.5, heat, 0.5, 0.0, out);
    return out;
}

cv::Mat captioned(const cv::Mat& image, const std::vector<std::string>& title, const std::string& caption) {
    const int width = std::max(image.cols, 160), above = static_cast<int>(title.size()) * kLine;
    cv::Mat out(image.rows + above + kLine, width, CV_8UC3, kWhite);
    image.copyTo(out(cv::Rect((width - image.cols) / 2, above, image.cols, image.rows)));
    for (size_t i = 0; i < title.size(); ++i)
        cv::putText(out, fit(title[i], width - 4), cv::Point(2, static_cast<int>(i + 1) * kLine - 7), kFont, kFontScale,
                    kInk, 1, cv::LINE_AA);
    cv::putText(out, fit(caption, width - 4), cv::Point(2, out.rows - 7), kFont, kFontScale, kInk, 1, cv::LINE_AA);
    return out;
}

cv::Mat side_by_side(const std::vector<cv::Mat>& panels) {
    int width = 0, height = 0;
    for (const cv::Mat& p : panels) {
        width += p.cols + (width ? kGap : 0);
        height = std::max(height, p.rows);
    }
    cv::Mat out(std::max(height, 1), std::max(width, 1), CV_8UC3, kWhite);
    int x = 0;
    for (const cv::Mat& p : panels) {
        p.copyTo(out(cv::Rect(x, 0, p.cols, p.rows)));
        x += p.cols + kGap;
    }
    return out;
}

}  // namespace vitc
