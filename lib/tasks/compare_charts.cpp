#include "tasks/compare_charts.hpp"

#include <algorithm>
#include <opencv2/imgproc.hpp>

namespace vitc {

namespace {

const cv::Scalar kWhite(255, 255, 255), kInk(30, 30, 30);
const cv::Scalar kSeries[] = {cv::Scalar(180, 119, 31), cv::Scalar(14, 127, 255)};  // BGR: blue, orange
constexpr int kFont = cv::FONT_HERSHEY_SIMPLEX;
constexpr double kScale = 0.45;

int text_width(const std::string& text) {
    int baseline = 0;
    return cv::getTextSize(text, kFont, kScale, 1, &baseline).width;
}

void text(cv::Mat& image, const std::string& s, int x, int y, const cv::Scalar& colour = kInk) {
    cv::putText(image, s, cv::Point(x, y), kFont, kScale, colour, 1, cv::LINE_AA);
}

}  // namespace

cv::Mat draw_bar_chart(const std::string& title, const std::vector<Bar>& bars) {
    const int bar_height = 26, top = 30, length = 320;
    int name_width = 0;
    double largest = 0;
    for (const Bar& b : bars) {
        name_width = std::max(name_width, text_width(b.name));
        largest = std::max(largest, b.value);
    }
    const int left = name_width + 14;
    int text_room = 0;
    for (const Bar& b : bars) text_room = std::max(text_room, text_width(b.text));
    cv::Mat image(top + static_cast<int>(bars.size()) * (bar_height + 8) + 6,
                  std::max(left + length + text_room + 20, text_width(title) + 20), CV_8UC3, kWhite);
    text(image, title, 6, 18);
    for (size_t i = 0; i < bars.size(); ++i) {
        const int y = top + static_cast<int>(i) * (bar_height + 8);
        const int w = largest > 0 ? std::max(1, static_cast<int>(length * bars[i].value / largest)) : 1;
        text(image, bars[i].name, 6, y + bar_height / 2 + 5);
        cv::rectangle(image, cv::Rect(left, y, w, bar_height), kSeries[i % 2], cv::FILLED);
        text(image, bars[i].text, left + w + 6, y + bar_height / 2 + 5);
    }
    return image;
}

}  // namespace vitc
