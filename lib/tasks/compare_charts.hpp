#pragma once
// The charts of the compare and study reports, drawn with OpenCV: bar charts of latency and
// throughput; line charts of accuracy against training-set size.
// (The confusion matrices are HTML tables, so that their labels are text.)
#include <opencv2/core.hpp>
#include <string>
#include <vector>

namespace vitc {

struct Bar {
    std::string name;
    double value = 0;
    std::string text;  // printed beside the bar
};

// Horizontal bars, longest = the largest value, one colour per bar in order.
cv::Mat draw_bar_chart(const std::string& title, const std::vector<Bar>& bars);

struct Series {
    std::string name;
    std::vector<double> x, y;  // points in increasing x
};

// Lines with a dot per point, x on a log scale, one colour per series (as the bar charts), a
// legend, and the axes labelled with the points' x values and a few y values.
cv::Mat draw_log_x_line_chart(const std::string& title, const std::string& x_label, const std::string& y_label,
                              const std::vector<Series>& series);

}  // namespace vitc
