#pragma once
// The pictures of a comparison report, drawn with OpenCV: confusion matrices and a bar chart of
// latency and throughput.
#include <opencv2/core.hpp>
#include <string>
#include <vector>

namespace vitc {

// Rows: true label, columns: predicted index; cells shaded by the row's fraction, with counts.
cv::Mat draw_confusion_matrix(const std::vector<std::vector<size_t>>& confusion, const std::vector<std::string>& labels,
                              const std::string& title);

struct Bar {
    std::string name;
    double value = 0;
    std::string text;  // printed beside the bar
};

// Horizontal bars, longest = the largest value, one colour per bar in order.
cv::Mat draw_bar_chart(const std::string& title, const std::vector<Bar>& bars);

}  // namespace vitc
