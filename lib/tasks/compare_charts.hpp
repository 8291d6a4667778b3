#pragma once
// The pictures of a comparison report, drawn with OpenCV: bar charts of latency and throughput.
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

}  // namespace vitc
