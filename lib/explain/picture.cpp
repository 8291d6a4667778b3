#include "explain/picture.hpp"

#include <cstdio>
#include <opencv2/core.hpp>

#include "explain/heatmap.hpp"

namespace vitc {

namespace {

cv::Mat enlarged_view(const float* input, const Model& model, int side) {
    const Preprocessing& p = model.preprocessing();
    return enlarged(model_view(input, model.num_channels(), p.output_height(), p.output_width(), p), side);
}

}  // namespace

std::string input_description(const Model& model) {
    const Preprocessing& p = model.preprocessing();
    const int c = model.num_channels();
    return std::string(c == 1 ? "grey" : c == 3 ? "RGB" : std::to_string(c) + "-channel") + " " +
           std::to_string(p.output_width()) + "x" + std::to_string(p.output_height()) + " input";
}

cv::Mat input_panel(const float* input, const Model& model, const std::vector<std::string>& title,
                    const std::string& caption, int side) {
    cv::Mat view;
    cv::copyMakeBorder(enlarged_view(input, model, side), view, 0, kScaleHeight, 0, 0, cv::BORDER_CONSTANT,
                       cv::Scalar::all(255));
    return captioned(view, title, caption);
}

std::string prediction_caption(const Model& model, const ExplainedImage& e) {
    char probability[32];
    std::snprintf(probability, sizeof probability, " %.1f%%", 100.0 * e.prediction.probabilities[e.predicted]);
    return model.labels()[e.predicted] + probability;
}

std::vector<cv::Mat> explanation_panels(const float* input, const Model& model, const ExplainedImage& e,
                                        const std::string& name, int side) {
    const cv::Mat view = enlarged_view(input, model, side);
    std::vector<cv::Mat> panels;
    for (const Explanation& x : e.explanations)
        panels.push_back(captioned(with_colour_scale(overlay_heatmap(view, x.map, x.height, x.width)),
                                   {name + " (" + std::to_string(x.height) + "x" + std::to_string(x.width) + " map)", x.method},
                                   prediction_caption(model, e)));
    return panels;
}

}  // namespace vitc
