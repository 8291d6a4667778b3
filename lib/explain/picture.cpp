#include "explain/picture.hpp"

#include <cstdio>

#include "explain/heatmap.hpp"

namespace vitc {

cv::Mat input_panel(const cv::Mat& decoded, const Model& model, const std::vector<std::string>& title,
                    const std::string& caption, int side) {
    return captioned(enlarged(model_view(decoded, model.preprocessing()), side), title, caption);
}

std::string prediction_caption(const Model& model, const ExplainedImage& e) {
    char probability[32];
    std::snprintf(probability, sizeof probability, " %.1f%%", 100.0 * e.prediction.probabilities[e.predicted]);
    return model.labels()[e.predicted] + probability;
}

std::vector<cv::Mat> explanation_panels(const cv::Mat& decoded, const Model& model, const ExplainedImage& e,
                                        const std::string& name, int side) {
    const cv::Mat view = enlarged(model_view(decoded, model.preprocessing()), side);
    std::vector<cv::Mat> panels;
    for (const Explanation& x : e.explanations)
        panels.push_back(captioned(overlay_heatmap(view, x.map, x.height, x.width), {name + " (" + std::to_string(x.height) + "x" + std::to_string(x.width) + " map)", x.method},
                                   prediction_caption(model, e)));
    return panels;
}

}  // namespace vitc
