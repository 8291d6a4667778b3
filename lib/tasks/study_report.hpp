#pragma once
// The study's report.html: one self-contained page (the chart embedded) with the findings, the
// chart of test accuracy against training-set size for both families, and a table of every point.
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>

#include "explain/attention_distance.hpp"

#include "tasks/study.hpp"

namespace vitc {

// `distance` and its plot: the largest ViT's attention distances and the largest CNN's receptive field.
// `sweep`: the ViT at each patch size on one subset (--patch-sizes), or empty.
void write_study_report(const std::string& path, const nlohmann::json& settings, const std::vector<StudyPoint>& points,
                        const std::vector<std::string>& findings, const AttentionDistanceReport& distance,
                        const cv::Mat& distance_plot, const std::vector<StudyPoint>& sweep);

}  // namespace vitc
