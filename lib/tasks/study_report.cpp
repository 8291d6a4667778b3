#include "tasks/study_report.hpp"

#include <algorithm>
#include <iomanip>
#include <sstream>

#include "explain/data_uri.hpp"
#include "tasks/atomic_file.hpp"
#include "tasks/compare_charts.hpp"
#include "tasks/html.hpp"

namespace vitc {

namespace {

std::string fixed(double v, int digits) {
    std::ostringstream s;
    s << std::fixed << std::setprecision(digits) << v;
    return s.str();
}

const char* kStyle = R"(body { font-family: sans-serif; margin: 2em auto; max-width: 980px; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0; }
th, td { border: 1px solid #ccc; padding: 4px 10px; text-align: right; }
th:first-child, td:first-child { text-align: left; }
p.finding { font-size: 1.1em; }
.note { color: #555; font-size: 0.9em; })";

}  // namespace

void write_study_report(const std::string& path, const nlohmann::json& settings, const std::vector<StudyPoint>& points,
                        const std::vector<std::string>& findings, const AttentionDistanceReport& distance,
                        const cv::Mat& distance_plot, const std::vector<StudyPoint>& sweep) {
    std::vector<StudyPoint> sorted = points;
    std::sort(sorted.begin(), sorted.end(), [](const StudyPoint& a, const StudyPoint& b) {
        return a.family != b.family ? a.family > b.family : a.size < b.size;  // vit first, then cnn
    });
    std::vector<Series> series;
    for (const char* family : {"vit", "cnn"}) {
        Series s;
        s.name = family == std::string("vit") ? "ViT" : "CNN";
        for (const StudyPoint& p : sorted)
            if (p.family == family) s.x.push_back(static_cast<double>(p.size)), s.y.push_back(p.test_accuracy);
        series.push_back(s);
    }
    const cv::Mat chart = draw_log_x_line_chart("test accuracy against training-set size", "training images",
                                                "top-1 on the test set", series);
    std::ostringstream h;
    h << "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>vitc study: ViT against CNN as the "
         "data grows</title>\n<style>"
      << kStyle << "</style></head>\n<body>\n<h1>ViT against CNN as the data grows</h1>\n<p>Training data: <code>"
      << html_escape(settings.value("data", "")) << "</code>; test data: <code>" << html_escape(settings.value("test", ""))
      << "</code>. Made by <code>vitc study</code> " << VITC_VERSION << " on " << utc_now() << ".</p>\n<h2>What the data shows</h2>\n";
    for (const std::string& f : findings) h << "<p class=\"finding\">" << html_escape(f) << "</p>\n";
    h << "<p><img alt=\"test accuracy against training-set size\" src=\"" << png_data_uri(chart) << "\"></p>\n";
    h << "<h2>Every point</h2>\n<table>\n<tr><th>model</th><th>training images</th><th>parameters</th><th>epochs</th>"
         "<th>steps</th><th>training time</th><th>validation top-1</th><th>test top-1</th></tr>\n";
    for (const StudyPoint& p : sorted)
        h << "<tr><td>" << (p.family == "vit" ? "ViT" : "CNN") << "</td><td>" << p.size << "</td><td>" << p.parameters
          << "</td><td>" << p.epochs << "</td><td>" << p.steps << "</td><td>" << fixed(p.train_seconds, 0) << " s</td><td>"
          << fixed(100.0 * p.val_accuracy, 1) << "%</td><td>" << fixed(100.0 * p.test_accuracy, 2) << "% of "
          << p.test_images << "</td></tr>\n";
    h << "</table>\n";
    // Figure 7 of the ViT paper on the trained models: does an early head look locally, as a convolution does?
    double nearest = 1e300, farthest = 0;
    for (const auto& block : distance.distance)
        for (double d : block) nearest = std::min(nearest, d), farthest = std::max(farthest, d);
    h << "<h2>A CNN is a restricted self-attention: how far do the ViT's heads look?</h2>\n<p>The ViT trained on the "
         "most images: mean attention distance of every head by depth over "
      << distance.images.size() << " test images (class token excluded as query and key, rows not renormalised), "
      << "from " << fixed(nearest, 1) << " to " << fixed(farthest, 1) << " input pixels; a head attending evenly to every "
      << "patch would have " << fixed(distance.uniform_distance, 1)
      << ". Beside it, the CNN's receptive field after each convolution, and how far attention spread evenly over that "
         "field would reach. Raw numbers: <code>study.json</code> (attention_distance).</p>\n<p><img alt=\"attention "
         "distance by depth\" src=\""
      << png_data_uri(distance_plot) << "\"></p>\n";
    if (!sweep.empty()) {
        // Tokens per image: the cost grows with the tokens (attention with their square); does accuracy?
        const auto best = std::max_element(sweep.begin(), sweep.end(), [](const StudyPoint& a, const StudyPoint& b) {
            return a.test_accuracy < b.test_accuracy;
        });
        h << "<h2>Tokens per image: the ViT's patch size</h2>\n<p>The same ViT and recipe on " << sweep.front().size
          << " training images, with each patch size (patch 1: every pixel a token). The best test accuracy here "
             "came from patch "
          << best->patch_size << " (" << best->tokens << " tokens, " << fixed(100.0 * best->test_accuracy, 2)
          << "%).</p>\n<table>\n<tr><th>patch size</th><th>tokens per image</th><th>parameters</th><th>steps</th>"
             "<th>training time</th><th>per step</th><th>validation top-1</th><th>test top-1</th></tr>\n";
        for (const StudyPoint& p : sweep)
            h << "<tr><td>" << p.patch_size << "</td><td>" << p.tokens << "</td><td>" << p.parameters << "</td><td>"
              << p.steps << "</td><td>" << fixed(p.train_seconds, 0) << " s</td><td>"
              << fixed(1000.0 * p.train_seconds / std::max<int64_t>(1, p.steps), 0) << " ms</td><td>"
              << fixed(100.0 * p.val_accuracy, 1) << "%</td><td>" << fixed(100.0 * p.test_accuracy, 2) << "% of "
              << p.test_images << "</td></tr>\n";
        h << "</table>\n<p class=\"note\">Training time includes each epoch's validation pass.</p>\n";
    }
    h << "<h2>Recipe</h2>\n<p class=\"note\">Nested, class-balanced subsets (each holds every smaller one). "
         "ViT: <code>--arch "
      << html_escape(settings.value("vit", "")) << "</code>, CNN: <code>--arch " << html_escape(settings.value("cnn", ""))
      << "</code>; AdamW, warm-up then cosine decay, label smoothing 0.1, augmentation <code>"
      << html_escape(settings.value("augment", "")) << "</code>, batch " << settings.value("batch_size", 0) << ", "
      << html_escape(settings.value("precision", "")) << ". ";
    if (settings.value("epochs", 0) > 0)
        h << "Every run: " << settings.value("epochs", 0) << " epochs (equal passes over the data).";
    else
        h << "Every run: about " << settings.value("steps", 0)
          << " optimiser steps whatever its size (whole epochs), so that a small subset gets as many updates as a large "
             "one: the comparison is of what each family does with the data, not with a compute budget that grows "
             "with it.";
    h << " The best epoch on a validation split (" << fixed(100.0 * settings.value("val_split", 0.0), 0)
      << "% of each subset) is kept and measured once on the test set through vitc's inference path.</p>\n"
      << "<p class=\"note\">Raw numbers: <code>study.json</code>; each run's model directory and "
         "<code>train_log.jsonl</code> are under <code>runs/</code>.</p>\n</body></html>\n";
    AtomicFile file(path);
    file.stream() << h.str();
    file.commit();
}

}  // namespace vitc
