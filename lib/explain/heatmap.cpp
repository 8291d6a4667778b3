#include "explain/heatmap.hpp"

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

cv::Mat model_view(const float* input, int channels, int height, int width, const Preprocessing& p) {
    const int64_t plane = static_cast<int64_t>(height) * width;
    std::vector<cv::Mat> planes;
    for (int c = 0; c < channels; ++c) {  // x = (v * rescale - mean) / std  ->  v = (x * std + mean) / rescale
        const float mean = p.do_normalize && !p.mean.empty() ? p.mean[std::min<size_t>(c, p.mean.size() - 1)] : 0.0f;
        const float deviation = p.do_normalize && !p.std.empty() ? p.std[std::min<size_t>(c, p.std.size() - 1)] : 1.0f;
        const float rescale = p.do_rescale ? p.rescale_factor : 1.0f;
        cv::Mat pixels(height, width, CV_8U);
        for (int64_t i = 0; i < plane; ++i) {
            const float v = (input[c * plane + i] * deviation + mean) / rescale;
            pixels.data[i] = static_cast<unsigned char>(std::lround(std::clamp(v, 0.0f, 255.0f)));
        }
        planes.push_back(pixels);
    }
    cv::Mat image;
    if (channels == 3) {
        cv::merge(std::vector<cv::Mat>{planes[2], planes[1], planes[0]}, image);  // RGB -> BGR
    } else {  // grey (or any other count: the first channel, grey)
        cv::cvtColor(planes.front(), image, cv::COLOR_GRAY2BGR);
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

cv::Mat with_colour_scale(const cv::Mat& picture) {
    const int width = picture.cols, strip = kScaleHeight;
    cv::Mat out(picture.rows + strip, width, CV_8UC3, kWhite);
    picture.copyTo(out(cv::Rect(0, 0, width, picture.rows)));
    int baseline = 0;
    const int low = cv::getTextSize("low", kFont, kFontScale, 1, &baseline).width;
    const int high = cv::getTextSize("high", kFont, kFontScale, 1, &baseline).width;
    const int x0 = low + 6, x1 = width - high - 6, y = picture.rows + 5;
    if (x1 - x0 >= 8) {
        cv::Mat ramp(1, x1 - x0, CV_8U), colours;
        for (int x = 0; x < ramp.cols; ++x) ramp.at<unsigned char>(0, x) = static_cast<unsigned char>(255 * x / (ramp.cols - 1));
        cv::applyColorMap(ramp, colours, cv::COLORMAP_JET);
        cv::resize(colours, colours, cv::Size(ramp.cols, strip - 9), 0, 0, cv::INTER_NEAREST);
        colours.copyTo(out(cv::Rect(x0, y, colours.cols, colours.rows)));
        cv::rectangle(out, cv::Rect(x0 - 1, y - 1, colours.cols + 2, colours.rows + 2), kInk, 1);
    }
    cv::putText(out, "low", cv::Point(2, out.rows - 7), kFont, kFontScale, kInk, 1, cv::LINE_AA);
    cv::putText(out, "high", cv::Point(width - high - 2, out.rows - 7), kFont, kFontScale, kInk, 1, cv::LINE_AA);
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
