#include "tasks/compare_charts.hpp"

#include <algorithm>
#include <cmath>
#include <iomanip>
#include <opencv2/imgproc.hpp>
#include <sstream>

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

cv::Mat draw_log_x_line_chart(const std::string& title, const std::string& x_label, const std::string& y_label,
                              const std::vector<Series>& series) {
    const int left = 60, right = 150, top = 54, bottom = 52, width = 460, height = 280;
    cv::Mat image(top + height + bottom, left + width + right, CV_8UC3, kWhite);
    text(image, title, 6, 18);
    double x_min = INFINITY, x_max = -INFINITY, y_min = INFINITY, y_max = -INFINITY;
    for (const Series& s : series)
        for (size_t i = 0; i < s.x.size(); ++i) {
            x_min = std::min(x_min, s.x[i]), x_max = std::max(x_max, s.x[i]);
            y_min = std::min(y_min, s.y[i]), y_max = std::max(y_max, s.y[i]);
        }
    if (!(x_min <= x_max) || x_min <= 0) return image;  // nothing to draw
    if (x_max == x_min) x_min /= 2, x_max *= 2;
    const double pad = std::max(0.02, (y_max - y_min) * 0.08);
    y_min -= pad, y_max += pad;
    const auto px = [&](double x) {
        return left + static_cast<int>(std::lround(width * (std::log(x) - std::log(x_min)) / (std::log(x_max) - std::log(x_min))));
    };
    const auto py = [&](double y) { return top + height - static_cast<int>(std::lround(height * (y - y_min) / (y_max - y_min))); };
    const cv::Scalar grid(225, 225, 225);
    cv::rectangle(image, cv::Rect(left, top, width, height), kInk, 1);
    for (int k = 0; k <= 4; ++k) {  // y ticks
        const double y = y_min + (y_max - y_min) * k / 4;
        std::ostringstream label;
        label << std::fixed << std::setprecision(1) << 100.0 * y << "%";
        cv::line(image, cv::Point(left, py(y)), cv::Point(left + width, py(y)), grid, 1);
        text(image, label.str(), 4, py(y) + 4);
    }
    std::vector<double> ticks;
    for (const Series& s : series) ticks.insert(ticks.end(), s.x.begin(), s.x.end());
    std::sort(ticks.begin(), ticks.end());
    ticks.erase(std::unique(ticks.begin(), ticks.end()), ticks.end());
    for (double x : ticks) {
        std::ostringstream label;
        label << static_cast<long long>(std::llround(x));
        cv::line(image, cv::Point(px(x), top), cv::Point(px(x), top + height), grid, 1);
        text(image, label.str(), px(x) - text_width(label.str()) / 2, top + height + 16);
    }
    cv::rectangle(image, cv::Rect(left, top, width, height), kInk, 1);
    text(image, x_label + " (log scale)", left + width / 2 - text_width(x_label + " (log scale)") / 2, top + height + 40);
    text(image, y_label, left, top - 10);
    for (size_t k = 0; k < series.size(); ++k) {
        const Series& s = series[k];
        const cv::Scalar colour = kSeries[k % 2];
        for (size_t i = 0; i < s.x.size(); ++i) {
            const cv::Point p(px(s.x[i]), py(s.y[i]));
            if (i > 0) cv::line(image, cv::Point(px(s.x[i - 1]), py(s.y[i - 1])), p, colour, 2, cv::LINE_AA);
            cv::circle(image, p, 4, colour, cv::FILLED, cv::LINE_AA);
        }
        const int ly = top + 14 + static_cast<int>(k) * 20;
        cv::line(image, cv::Point(left + width + 14, ly - 4), cv::Point(left + width + 38, ly - 4), colour, 2, cv::LINE_AA);
        text(image, s.name, left + width + 44, ly);
    }
    return image;
}

}  // namespace vitc
