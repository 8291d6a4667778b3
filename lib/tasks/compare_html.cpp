#include "tasks/compare_html.hpp"

#include <algorithm>
#include <ctime>
#include <iomanip>
#include <memory>
#include <sstream>

#include "errors.hpp"
#include "explain/data_uri.hpp"
#include "explain/heatmap.hpp"
#include "explain/picture.hpp"
#include "tasks/atomic_file.hpp"
#include "tasks/classifier.hpp"
#include "tasks/compare_charts.hpp"
#include "tasks/html.hpp"

namespace vitc {

namespace {

constexpr int kGallerySide = 176;  // pixels per picture in the gallery

std::string escape(const std::string& s) { return html_escape(s); }

std::string number(double v, int digits) {
    std::ostringstream s;
    s << std::fixed << std::setprecision(digits) << v;
    return s.str();
}

std::string percent(size_t part, size_t whole) { return whole ? number(100.0 * part / whole, 1) + "%" : "-"; }

std::string img(const cv::Mat& picture, const std::string& alt) {
    return "<img src=\"" + png_data_uri(picture) + "\" alt=\"" + escape(alt) + "\">";
}

// The gallery: one image per class in turn (the true class; the first model's prediction when
// the truth is unknown), classes in the first model's label order, so that every class shows
// before any shows twice. Within a class: exactly one model right first, then disagreements,
// then the rest, each in folder order.
std::vector<size_t> gallery_order(const CompareReport& r, size_t limit) {
    const std::vector<std::string>& labels = r.models[0].model->labels();
    std::vector<std::vector<size_t>> by_class(labels.size() + 1);  // the last: a class not among the labels
    for (int interest = 0; interest < 3; ++interest)
        for (size_t i = 0; i < r.images.size(); ++i) {
            const ComparedImage& image = r.images[i];
            if (!image.both_ok()) continue;
            const int rank = image.only_correct() >= 0 ? 0 : !image.agree() ? 1 : 2;
            if (rank != interest) continue;
            const std::string& key = image.truth.empty() ? image.models[0].label : image.truth;
            const size_t k = std::find(labels.begin(), labels.end(), key) - labels.begin();
            by_class[k].push_back(i);
        }
    std::vector<size_t> order;
    for (size_t round = 0; order.size() < limit; ++round) {
        bool any = false;
        for (const std::vector<size_t>& images : by_class)
            if (round < images.size() && order.size() < limit) {
                order.push_back(images[round]);
                any = true;
            }
        if (!any) break;
    }
    return order;
}

std::string verdict(const ComparedImage& image, const ImagePrediction& p) {
    std::string s = escape(p.label) + " " + number(100.0 * p.probability, 1) + "%";
    if (!image.truth.empty()) s += p.correct ? " <span class=\"ok\">&#10003;</span>" : " <span class=\"bad\">&#10007;</span>";
    return s;
}

void models_section(std::ostream& h, const CompareReport& r) {
    const ComparedModel &a = r.models[0], &b = r.models[1];
    h << "<section id=\"models\"><h2>Models and cost</h2>\n<table>\n<tr><th></th><th>" << escape(a.name) << "</th><th>"
      << escape(b.name) << "</th></tr>\n";
    const auto row = [&](const std::string& what, const std::string& x, const std::string& y) {
        h << "<tr><th>" << what << "</th><td>" << x << "</td><td>" << y << "</td></tr>\n";
    };
    row("directory", "<code>" + escape(a.directory) + "</code>", "<code>" + escape(b.directory) + "</code>");
    row("architecture", escape(a.summary.architecture), escape(b.summary.architecture));
    row("precision", escape(a.summary.precision), escape(b.summary.precision));
    row("parameters", number(a.summary.parameters / 1e6, 3) + " M", number(b.summary.parameters / 1e6, 3) + " M");
    row("FLOPs per image", number(a.summary.flops_per_image / 1e6, 2) + " M", number(b.summary.flops_per_image / 1e6, 2) + " M");
    // The median over the rounds, with their range: rounds alternate the models (tasks/compare.hpp).
    const auto range = [](const std::vector<double>& rounds, int digits) {
        if (rounds.size() < 2) return std::string();
        const auto [low, high] = std::minmax_element(rounds.begin(), rounds.end());
        return " <small>(" + number(*low, digits) + " to " + number(*high, digits) + ")</small>";
    };
    row("latency, batch 1 (median)", number(a.latency.latency_ms_median, 3) + " ms" + range(a.latency_rounds_ms, 3),
        number(b.latency.latency_ms_median, 3) + " ms" + range(b.latency_rounds_ms, 3));
    row("throughput, batch " + std::to_string(a.throughput.batch),
        number(a.throughput.images_per_second, 0) + " images/s" + range(a.throughput_rounds, 0),
        number(b.throughput.images_per_second, 0) + " images/s" + range(b.throughput_rounds, 0));
    h << "</table>\n<p class=\"charts\">"
      << img(draw_bar_chart("batch-1 latency, ms (shorter is faster)",
                            {{a.name, a.latency.latency_ms_median, number(a.latency.latency_ms_median, 3) + " ms"},
                             {b.name, b.latency.latency_ms_median, number(b.latency.latency_ms_median, 3) + " ms"}}),
             "latency chart")
      << " "
      << img(draw_bar_chart("throughput at batch " + std::to_string(a.throughput.batch) + ", images/s (longer is faster)",
                            {{a.name, a.throughput.images_per_second, number(a.throughput.images_per_second, 0) + " /s"},
                             {b.name, b.throughput.images_per_second, number(b.throughput.images_per_second, 0) + " /s"}}),
             "throughput chart")
      << "</p>\n<p class=\"note\">Measured in " << a.latency_rounds_ms.size()
      << " rounds that alternate the models, in the same process, on random inputs of each model's input size; "
         "latency is the median of the runs after warm-up, each figure the median over the rounds (their range in "
         "brackets).</p>\n";
    if (r.busy)
        h << "<p class=\"note\"><strong>The machine was busy</strong> (load average " << number(r.load_average, 1)
          << " on " << r.cores << " cores; rounds differed by up to " << number(r.spread, 1)
          << "x): these timings are rough; compare them on a quiet machine.</p>\n";
    h << "</section>\n";
}

// Rows: true label; columns: predicted label; each cell shaded by its share of the row.
void confusion_table(std::ostream& h, const std::string& name, const std::vector<std::string>& labels,
                     const std::vector<std::vector<size_t>>& confusion) {
    h << "<table class=\"confusion\">\n<caption>" << escape(name)
      << ": rows true label, columns predicted label; shade: share of the row</caption>\n<tr><th>true \\ predicted</th>";
    for (const std::string& label : labels) h << "<th class=\"predicted\"><span>" << escape(label) << "</span></th>";
    h << "</tr>\n";
    for (size_t i = 0; i < labels.size() && i < confusion.size(); ++i) {
        size_t total = 0;
        for (size_t n : confusion[i]) total += n;
        h << "<tr><th class=\"class\">" << escape(labels[i]) << "</th>";
        for (size_t j = 0; j < confusion[i].size(); ++j) {
            const double share = total ? static_cast<double>(confusion[i][j]) / total : 0.0;
            // white to green on the diagonal, white to red elsewhere
            const int fade = static_cast<int>(255 - 175 * share);
            const std::string colour = i == j ? "rgb(" + std::to_string(fade) + ",255," + std::to_string(fade) + ")"
                                              : "rgb(255," + std::to_string(fade) + "," + std::to_string(fade) + ")";
            h << "<td style=\"background:" << colour << "\">" << (confusion[i][j] ? std::to_string(confusion[i][j]) : "")
              << "</td>";
        }
        h << "</tr>\n";
    }
    h << "</table>\n";
}

void accuracy_section(std::ostream& h, const CompareReport& r) {
    const ComparedModel &a = r.models[0], &b = r.models[1];
    h << "<section id=\"accuracy\"><h2>Predictions and accuracy</h2>\n";
    h << "<p>Images: " << r.images.size() << "; classified by both: " << r.compared() << "; the models agree on "
      << r.agreements() << " (" << percent(r.agreements(), r.compared()) << ").</p>\n";
    if (!r.not_scored.empty()) {  // classified, but in folders named after no label
        h << "<p class=\"note\">Not scored (no label matches the folder): ";
        for (size_t i = 0; i < r.not_scored.size(); ++i)
            h << (i ? ", " : "") << escape(r.not_scored[i].first) << " (" << r.not_scored[i].second << ")";
        h << ".</p>\n";
    }
    if (!r.labelled || (!a.report.evaluated && !b.report.evaluated)) {
        h << "<p class=\"note\">No true labels (subfolders named after the labels make a folder labelled), so no "
             "accuracy.</p>\n</section>\n";
        return;
    }
    // "-" for a model none of whose labels name the folder's classes.
    h << "<table>\n<tr><th></th><th>" << escape(a.name) << "</th><th>" << escape(b.name) << "</th></tr>\n"
      << "<tr><th>top-1</th><td>" << percent(a.report.top1_correct, a.report.evaluated) << "</td><td>"
      << percent(b.report.top1_correct, b.report.evaluated) << "</td></tr>\n"
      << "<tr><th>top-5</th><td>" << percent(a.report.top5_correct, a.report.evaluated) << "</td><td>"
      << percent(b.report.top5_correct, b.report.evaluated) << "</td></tr>\n"
      << "<tr><th>labelled images</th><td>" << a.report.evaluated << "</td><td>" << b.report.evaluated << "</td></tr>\n"
      << "<tr><th colspan=\"3\">top-1 per class</th></tr>\n";
    const std::vector<double> pa = a.per_class_accuracy(), pb = b.per_class_accuracy();
    const std::vector<std::string>& labels = a.model->labels();
    for (size_t k = 0; k < labels.size(); ++k) {
        const double va = k < pa.size() ? pa[k] : -1;
        const auto it = std::find(b.model->labels().begin(), b.model->labels().end(), labels[k]);
        const size_t kb = it - b.model->labels().begin();
        const double vb = kb < pb.size() ? pb[kb] : -1;
        if (va < 0 && vb < 0) continue;
        h << "<tr><th class=\"class\">" << escape(labels[k]) << "</th><td>" << (va < 0 ? "-" : number(100 * va, 1) + "%")
          << "</td><td>" << (vb < 0 ? "-" : number(100 * vb, 1) + "%") << "</td></tr>\n";
    }
    h << "</table>\n</section>\n<section id=\"confusion\"><h2>Confusion matrices</h2>\n";
    for (const ComparedModel* m : {&a, &b}) {
        if (!m->report.evaluated) continue;
        if (m->model->labels().size() > 60) {
            h << "<p class=\"note\">" << escape(m->name) << ": too many classes to draw (see --format json)</p>\n";
            continue;
        }
        confusion_table(h, m->name, m->model->labels(), m->report.confusion);
    }
    h << "</section>\n";

    const std::vector<size_t> single = r.single_model_correct();
    h << "<section id=\"single-model-correct\"><h2>Exactly one model right (" << single.size() << ")</h2>\n";
    if (!single.empty()) {
        h << "<table>\n<tr><th>image</th><th>true</th><th>" << escape(a.name) << "</th><th>" << escape(b.name) << "</th></tr>\n";
        for (size_t i : single) {
            const ComparedImage& im = r.images[i];
            h << "<tr><td><code>" << escape(im.relative) << "</code></td><td>" << escape(im.truth) << "</td><td>"
              << verdict(im, im.models[0]) << "</td><td>" << verdict(im, im.models[1]) << "</td></tr>\n";
        }
        h << "</table>\n";
    }
    h << "</section>\n";
}

size_t gallery_section(std::ostream& h, const CompareReport& r, const DecodeLimits& limits, size_t max_pictures) {
    h << "<section id=\"explanations\"><h2>Where the models look</h2>\n"
         "<p class=\"note\">One image per class in turn (its true class; on unlabelled images the first model's "
         "prediction); within a class, images exactly one model gets right first, then disagreements. First the input "
         "as the first model sees it (after its preprocessing), then each model's map over its own input, normalised "
         "per image (red: most evidence): attention rollout for a ViT, Grad-CAM of the predicted class on layer3 for "
         "a ResNet.</p>\n";
    std::array<std::unique_ptr<Explainer>, 2> explainers;
    std::array<std::unique_ptr<Classifier>, 2> loaders;  // the isolated loader, as for classifying
    for (int m = 0; m < 2; ++m) {
        loaders[m] = std::make_unique<Classifier>(*r.models[m].model, limits);
        try {
            explainers[m] = std::make_unique<Explainer>(*r.models[m].model);
        } catch (const Error& e) {
            h << "<p class=\"note\">" << escape(r.models[m].name) << ": no explanation: " << escape(e.what()) << "</p>\n";
        }
    }
    size_t drawn = 0;
    for (size_t index : gallery_order(r, max_pictures)) {
        const ComparedImage& image = r.images[index];
        // Anything that fails for one picture (the file changed since it was classified, say)
        // leaves that picture out, not the report.
        std::ostringstream figure_html;
        try {
            std::vector<cv::Mat> panels;
            for (int m = 0; m < 2; ++m) {
                const Model& model = *r.models[m].model;
                std::vector<float> input(loaders[m]->input_size());
                loaders[m]->load_image(image.path, input.data());
                if (m == 0)
                    panels.push_back(input_panel(input.data(), model, {"input", "as " + r.models[0].name + " sees it"},
                                                 image.truth.empty() ? input_description(model) : "true: " + image.truth,
                                                 kGallerySide));
                if (!explainers[m]) continue;
                const ExplainedImage e = explainers[m]->explain(input.data());
                panels.push_back(explanation_panels(input.data(), model, e, r.models[m].name, kGallerySide).front());
            }
            std::string tag;
            if (image.only_correct() >= 0) tag = " <span class=\"tag\">only " + escape(r.models[image.only_correct()].name) + " right</span>";
            else if (!image.agree()) tag = " <span class=\"tag\">disagree</span>";
            figure_html << "<figure>" << img(side_by_side(panels), image.relative) << "<figcaption><code>" << escape(image.relative)
              << "</code>" << tag << "<br>" << escape(r.models[0].name) << ": " << verdict(image, image.models[0]) << " &middot; "
              << escape(r.models[1].name) << ": " << verdict(image, image.models[1]) << "</figcaption></figure>\n";
        } catch (const std::exception&) {
            continue;
        }
        h << figure_html.str();
        ++drawn;
    }
    h << "</section>\n";
    return drawn;
}

const char* kStyle = R"(body { font-family: sans-serif; margin: 2em auto; max-width: 1180px; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0; }
th, td { border: 1px solid #ccc; padding: 4px 10px; text-align: left; vertical-align: top; }
th.class { font-weight: normal; }
.note { color: #666; font-size: 0.9em; }
.charts img { margin: 0 1em 1em 0; vertical-align: top; }
figure { display: inline-block; margin: 0 1em 1.5em 0; }
figcaption { font-size: 0.85em; }
.ok { color: #1a7f37; } .bad { color: #c62828; }
.tag { background: #fff3cd; padding: 0 4px; border-radius: 3px; }
table.confusion td { text-align: center; min-width: 2.2em; padding: 3px 4px; }
table.confusion caption { text-align: left; font-size: 0.9em; color: #444; padding: 4px 0; }
th.predicted { vertical-align: bottom; padding: 4px 2px; }
th.predicted span { writing-mode: vertical-rl; transform: rotate(180deg); white-space: nowrap; font-weight: normal; }
)";

}  // namespace

size_t write_compare_html(const CompareReport& report, const std::string& path, const DecodeLimits& limits,
                          size_t max_pictures) {
    std::ostringstream h;
    h << "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>vitc compare: "
      << escape(report.models[0].name) << " vs " << escape(report.models[1].name) << "</title>\n<style>" << kStyle
      << "</style></head>\n<body>\n<h1>" << escape(report.models[0].name) << " vs " << escape(report.models[1].name)
      << "</h1>\n<p>Input: <code>" << escape(report.input) << "</code>. Made by <code>vitc compare</code> " << VITC_VERSION
      << " on " << utc_now() << ".</p>\n";
    accuracy_section(h, report);
    models_section(h, report);
    const size_t drawn = gallery_section(h, report, limits, max_pictures);
    h << "</body></html>\n";
    AtomicFile file(path);
    file.stream() << h.str();
    file.commit();
    return drawn;
}

}  // namespace vitc
