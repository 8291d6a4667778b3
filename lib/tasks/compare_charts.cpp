#include "tasks/compare_charts.hpp"

#include <algorithm>
#include <opencv2/imgproc.hpp>

namespace vitc {

namespace {

const cv::Scalar kWhite(255, 255, 255), kInk(30, 30, 30), kGrid(200, 200, 200);
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

cv::Mat draw_confusion_matrix(const std::vector<std::vector<size_t>>& confusion, const std::vector<std::string>& labels,
                              const std::string& title) {
    const int K = static_cast<int>(labels.size()), cell = 34, top = 52;
    int label_width = 0;
    for (int k = 0; k < K; ++k) label_width = std::max(label_width, text_width(std::to_string(k) + " " + labels[k]));
    const int left = label_width + 14;
    const std::string footer = "rows: true label; shade: share of the row";
    cv::Mat image(top + K * cell + 28, std::max({left + K * cell + 10, text_width(title) + 20, text_width(footer) + 20}),
                  CV_8UC3, kWhite);
    text(image, title, 6, 18);
    text(image, "predicted ->", left, 36);
    for (int i = 0; i < K; ++i) {
        size_t total = 0;
        for (size_t n : confusion[i]) total += n;
        text(image, std::to_string(i) + " " + labels[i], 6, top + i * cell + cell / 2 + 5);
        const std::string column = std::to_string(i);
        text(image, column, left + i * cell + (cell - text_width(column)) / 2, top - 4);
        for (int j = 0; j < K; ++j) {
            const double share = total ? static_cast<double>(confusion[i][j]) / total : 0.0;
            const cv::Rect box(left + j * cell, top + i * cell, cell, cell);
            // white -> dark blue with the share of the row; diagonal cells green-tinted
            const cv::Scalar fill = i == j ? cv::Scalar(255 - 120 * share, 255 - 60 * share, 255 - 200 * share)
                                           : cv::Scalar(255 - 60 * share, 255 - 200 * share, 255 - 200 * share);
            cv::rectangle(image, box, fill, cv::FILLED);
            cv::rectangle(image, box, kGrid, 1);
            if (confusion[i][j]) {
                const std::string count = std::to_string(confusion[i][j]);
                text(image, count, box.x + (cell - text_width(count)) / 2, box.y + cell / 2 + 5,
                     share > 0.6 ? kWhite : kInk);
            }
        }
    }
    text(image, footer, 6, image.rows - 8);
    return image;
}

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
