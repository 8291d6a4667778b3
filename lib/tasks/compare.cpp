#include "tasks/compare.hpp"

#include <algorithm>
#include <cstdlib>
#include <thread>
#include <cmath>
#include <iomanip>
#include <nlohmann/json.hpp>
#include <sstream>

#include "errors.hpp"
#include "io/printable.hpp"

namespace vitc {

namespace {

// The label index of `name` in `labels`, or -1.
int find_label(const std::vector<std::string>& labels, const std::string& name) {
    const auto it = std::find(labels.begin(), labels.end(), name);
    return it == labels.end() ? -1 : static_cast<int>(it - labels.begin());
}

std::string percent(double fraction) {
    std::ostringstream s;
    s << std::fixed << std::setprecision(1) << 100.0 * fraction << "%";
    return s.str();
}

std::string prediction_text(const ImagePrediction& p) {
    return p.ok ? printable(p.label) + " " + percent(p.probability) : "error";
}

// One timing round: at least min_runs batch-1 runs and about half a second of them; then batched
// runs for about a second (at least 3).
void measure_round(ComparedModel& m, const CompareOptions& options) {
    const BenchmarkResult probe = benchmark_model(*m.model, m.name, 1, 3, 1);
    const double ms = std::max(probe.latency_ms_median, 1e-3);
    const int runs = std::clamp(static_cast<int>(500.0 / ms), options.min_latency_runs, 1000);
    m.latency = benchmark_model(*m.model, m.name, 1, runs, 3);
    const double batch_ms = ms * options.throughput_batch;  // pessimistic: no batching gain
    m.throughput = benchmark_model(*m.model, m.name, options.throughput_batch,
                                   std::clamp(static_cast<int>(1000.0 / batch_ms), 3, 50), 1);
    m.latency_rounds_ms.push_back(m.latency.latency_ms_median);
    m.throughput_rounds.push_back(m.throughput.images_per_second);
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0 : v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

double max_over_min(const std::vector<double>& v) {
    const auto [lo, hi] = std::minmax_element(v.begin(), v.end());
    return v.empty() || *lo <= 0 ? 1 : *hi / *lo;
}

// Rounds alternate between the models, so a busy spell hits both; the median is reported with
// the spread, and the report says when the machine was too busy for the numbers to mean much.
void measure(CompareReport& r, const CompareOptions& options) {
    double load[1] = {0};
    if (getloadavg(load, 1) == 1) r.load_average = load[0];
    r.cores = static_cast<int>(std::thread::hardware_concurrency());
    for (int round = 0; round < std::max(1, options.timing_rounds); ++round)
        for (ComparedModel& m : r.models) measure_round(m, options);
    for (ComparedModel& m : r.models) {
        m.latency.latency_ms_median = median(m.latency_rounds_ms);
        m.throughput.images_per_second = median(m.throughput_rounds);
        r.spread = std::max({r.spread, max_over_min(m.latency_rounds_ms), max_over_min(m.throughput_rounds)});
    }
    // Busy: more runnable work than cores before we started (someone else computing), or rounds
    // that differ by more than half.
    r.busy = (r.cores > 0 && r.load_average > r.cores + 0.5) || r.spread > 1.5;
}

void print_confusion(std::ostream& out, const ComparedModel& m) {
    out << m.name << " confusion matrix (rows: true label, columns: predicted index)\n";
    print_confusion_matrix(out, m.model->labels(), m.report.confusion);
}

nlohmann::json prediction_json(const ImagePrediction& p) {
    if (!p.ok) return {{"status", "error"}, {"error", p.error}};
    // "top" as in classify and batch rows: [{"label", "index", "prob"}]
    return {{"status", "ok"}, {"top", nlohmann::json::array({{{"label", p.label}, {"index", p.index}, {"prob", p.probability}}})}};
}

}  // namespace

std::vector<double> ComparedModel::per_class_accuracy() const {
    std::vector<double> out;
    for (size_t i = 0; i < report.confusion.size(); ++i) {
        size_t total = 0;
        for (size_t n : report.confusion[i]) total += n;
        out.push_back(total ? static_cast<double>(report.confusion[i][i]) / total : -1.0);
    }
    return out;
}

int ComparedImage::only_correct() const {
    if (!both_ok() || truth.empty() || models[0].correct == models[1].correct) return -1;
    return models[0].correct ? 0 : 1;
}

size_t CompareReport::compared() const {
    return std::count_if(images.begin(), images.end(), [](const ComparedImage& i) { return i.both_ok(); });
}

size_t CompareReport::agreements() const {
    return std::count_if(images.begin(), images.end(), [](const ComparedImage& i) { return i.agree(); });
}

std::vector<size_t> CompareReport::single_model_correct() const {
    std::vector<size_t> out;
    for (size_t i = 0; i < images.size(); ++i)
        if (images[i].only_correct() >= 0) out.push_back(i);
    return out;
}

CompareReport compare_models(const std::array<const Model*, 2>& models, const std::array<std::string, 2>& names,
                             const std::array<std::string, 2>& directories, const std::string& input,
                             const std::vector<ImageEntry>& images, const std::vector<std::string>& listing_labels,
                             const CompareOptions& options) {
    CompareReport r;
    r.input = input;
    r.images.resize(images.size());
    for (size_t i = 0; i < images.size(); ++i) {
        r.images[i].path = images[i].path;
        r.images[i].relative = images[i].relative;
        if (images[i].label >= 0) r.images[i].truth = listing_labels[images[i].label];
        r.labelled = r.labelled || images[i].label >= 0;
    }
    for (int m = 0; m < 2; ++m) {
        ComparedModel& c = r.models[m];
        c.name = names[m];
        c.directory = directories[m];
        c.model = models[m];
        c.summary = models[m]->summary();
        const std::vector<std::string>& labels = models[m]->labels();
        std::vector<ImageEntry> own = images;  // true labels as this model's indices
        for (ImageEntry& e : own)
            if (e.label >= 0) e.label = find_label(labels, listing_labels[e.label]);
        Classifier classifier(*models[m], options.limits);
        size_t row = 0;
        c.report = run_batch(
            classifier, own, options.batch_size,
            [&](const BatchRow& b) {
                ImagePrediction& p = r.images[row++].models[m];
                p.ok = b.ok;
                p.error = b.error;
                if (!b.ok) return;
                const Ranked top = top_k(b.prediction, 1).front();
                p.index = top.index;
                p.label = labels[top.index];
                p.probability = top.probability;
                p.correct = b.image->label >= 0 && top.index == b.image->label;
            },
            [](size_t, size_t) {});
    }
    measure(r, options);
    return r;
}

void CompareReport::print_text(std::ostream& out, size_t max_listed) const {
    const ComparedModel &a = models[0], &b = models[1];
    const int column = static_cast<int>(std::max<size_t>(30, std::max(a.directory.size(), b.directory.size()) + 2));
    const auto row = [&](const std::string& what, const std::string& x, const std::string& y) {
        out << std::left << std::setw(24) << what << std::setw(column) << x << y << std::right << "\n";
    };
    const auto fixed = [](double v, int digits) {
        std::ostringstream s;
        s << std::fixed << std::setprecision(digits) << v;
        return s.str();
    };
    row("", a.name, b.name);
    row("model", a.directory, b.directory);
    row("family", a.summary.family, b.summary.family);
    row("precision", a.summary.precision, b.summary.precision);
    row("parameters", fixed(a.summary.parameters / 1e6, 3) + " M", fixed(b.summary.parameters / 1e6, 3) + " M");
    row("FLOPs/image", fixed(a.summary.flops_per_image / 1e6, 2) + " M", fixed(b.summary.flops_per_image / 1e6, 2) + " M");
    const auto range = [&](const std::vector<double>& v, int digits) {
        const auto [lo, hi] = std::minmax_element(v.begin(), v.end());
        return v.size() < 2 ? std::string() : " (" + fixed(*lo, digits) + "-" + fixed(*hi, digits) + ")";
    };
    row("latency, batch 1", fixed(a.latency.latency_ms_median, 3) + " ms" + range(a.latency_rounds_ms, 3),
        fixed(b.latency.latency_ms_median, 3) + " ms" + range(b.latency_rounds_ms, 3));
    row("throughput, batch " + std::to_string(a.throughput.batch),
        fixed(a.throughput.images_per_second, 0) + " images/s" + range(a.throughput_rounds, 0),
        fixed(b.throughput.images_per_second, 0) + " images/s" + range(b.throughput_rounds, 0));
    out << "(timings: median of " << a.latency_rounds_ms.size() << " rounds, alternating the models; range in brackets)\n";
    if (busy)
        out << "note: the machine was busy (load average " << fixed(load_average, 1) << " on " << cores
            << " cores; rounds differed by up to " << fixed(spread, 1)
            << "x): the timings are rough; compare them on a quiet machine\n";
    if (labelled) {  // "-" for a model none of whose labels name the folder's classes
        const auto share = [&](size_t part, const BatchReport& r, bool count) {
            if (!r.evaluated) return std::string("-");
            return percent(static_cast<double>(part) / r.evaluated) + (count ? " of " + std::to_string(r.evaluated) : "");
        };
        row("top-1", share(a.report.top1_correct, a.report, true), share(b.report.top1_correct, b.report, true));
        row("top-5", share(a.report.top5_correct, a.report, false), share(b.report.top5_correct, b.report, false));
    }
    out << "architectures:\n  [" << a.name << "] " << printable(a.summary.architecture) << "\n  [" << b.name << "] "
        << printable(b.summary.architecture) << "\n";

    const size_t n = compared();
    out << "\nimages: " << images.size() << ", classified by both: " << n << ", agreement: " << agreements() << "/" << n;
    if (n) out << " (" << percent(static_cast<double>(agreements()) / n) << ")";
    out << "\n";
    for (size_t i = 0; i < not_scored.size(); ++i)
        out << (i ? ", " : "not scored (no label matches the folder): ") << printable(not_scored[i].first) << " ("
            << not_scored[i].second << ")" << (i + 1 == not_scored.size() ? "\n" : "");

    // Every image when there are few; otherwise the disagreements (unlabelled) up to max_listed.
    const bool all = images.size() <= max_listed;
    size_t listed = 0, left = 0;
    if (all || !labelled) {
        size_t width = 5;
        for (const ComparedImage& i : images) width = std::max(width, i.relative.size());
        bool header = false;
        for (const ComparedImage& i : images) {
            if (!all && i.agree()) continue;
            if (listed == max_listed) {
                ++left;
                continue;
            }
            if (!header) {
                out << "\n" << std::left << std::setw(static_cast<int>(width) + 2) << "image";
                if (labelled) out << std::setw(16) << "true";
                out << std::setw(28) << a.name << std::setw(28) << b.name << "agree" << std::right << "\n";
                header = true;
            }
            out << std::left << std::setw(static_cast<int>(width) + 2) << printable(i.relative);
            if (labelled) out << std::setw(16) << (i.truth.empty() ? "-" : printable(i.truth));
            out << std::setw(28) << prediction_text(i.models[0]) << std::setw(28) << prediction_text(i.models[1])
                << (i.both_ok() ? (i.agree() ? "yes" : "NO") : "-") << std::right << "\n";
            ++listed;
        }
        if (left) out << "(" << left << " more disagreements in --format json)\n";
    }
    if (!labelled || (!a.report.evaluated && !b.report.evaluated)) return;

    out << "\nper-class top-1 accuracy\n" << std::left << std::setw(22) << "" << std::setw(10) << a.name << b.name
        << std::right << "\n";
    const std::vector<double> pa = a.per_class_accuracy(), pb = b.per_class_accuracy();
    const std::vector<std::string>& labels = a.model->labels();
    for (size_t k = 0; k < labels.size(); ++k) {
        const double va = k < pa.size() ? pa[k] : -1;
        const int kb = find_label(b.model->labels(), labels[k]);
        const double vb = kb >= 0 && static_cast<size_t>(kb) < pb.size() ? pb[kb] : -1;
        if (va < 0 && vb < 0) continue;
        out << "  " << std::left << std::setw(20) << printable(labels[k]) << std::setw(10) << (va < 0 ? "-" : percent(va))
            << (vb < 0 ? "-" : percent(vb)) << std::right << "\n";
    }
    for (const ComparedModel* m : {&a, &b})
        if (m->report.evaluated) {
            out << "\n";
            print_confusion(out, *m);
        }

    const std::vector<size_t> single = single_model_correct();
    out << "\nexactly one model right: " << single.size() << " images";
    size_t only_a = 0;
    for (size_t i : single) only_a += images[i].only_correct() == 0;
    out << " (" << a.name << " only: " << only_a << ", " << b.name << " only: " << single.size() - only_a << ")\n";
    for (size_t k = 0; k < single.size() && k < max_listed; ++k) {
        const ComparedImage& i = images[single[k]];
        out << "  " << printable(i.relative) << ": true " << printable(i.truth) << "; " << a.name << " " << prediction_text(i.models[0]) << ", "
            << b.name << " " << prediction_text(i.models[1]) << "\n";
    }
    if (single.size() > max_listed) out << "  (" << single.size() - max_listed << " more in --format json)\n";
}

nlohmann::json CompareReport::to_json() const {
    nlohmann::json j;
    j["input"] = input;
    j["images"] = images.size();
    j["compared"] = compared();
    j["agreements"] = agreements();
    j["agreement_rate"] = compared() ? static_cast<double>(agreements()) / compared() : 0.0;
    j["labelled"] = labelled;
    if (!not_scored.empty()) {
        nlohmann::json folders = nlohmann::json::object();
        for (const auto& [name, count] : not_scored) folders[name] = count;
        j["not_scored"] = folders;
    }
    j["timing"] = {{"rounds", models[0].latency_rounds_ms.size()}, {"load_average", load_average}, {"cores", cores},
                   {"spread", spread}, {"busy", busy}};
    for (const ComparedModel& m : models) {
        nlohmann::json s = {{"name", m.name},
                            {"model", m.directory},
                            {"family", m.summary.family},
                            {"precision", m.summary.precision},
                            {"architecture", m.summary.architecture},
                            {"parameters", m.summary.parameters},
                            {"flops_per_image", m.summary.flops_per_image},
                            {"latency_ms_median", m.latency.latency_ms_median},
                            {"latency_runs", m.latency.iterations},
                            {"throughput_batch", m.throughput.batch},
                            {"throughput_images_per_second", m.throughput.images_per_second},
                            {"latency_ms_rounds", m.latency_rounds_ms},
                            {"throughput_rounds", m.throughput_rounds},
                            {"classification", m.report.to_json(m.model->labels())}};
        if (m.report.evaluated) {
            nlohmann::json per_class = nlohmann::json::object();
            const std::vector<double> acc = m.per_class_accuracy();
            for (size_t k = 0; k < acc.size(); ++k)
                if (acc[k] >= 0) per_class[m.model->labels()[k]] = acc[k];
            s["per_class_accuracy"] = per_class;
        }
        j["models"].push_back(s);
    }
    nlohmann::ordered_json rows = nlohmann::ordered_json::array();
    for (const ComparedImage& i : images) {
        nlohmann::ordered_json r = {{"file", i.relative}};
        if (!i.truth.empty()) r["true_label"] = i.truth;
        for (size_t m = 0; m < 2; ++m) {
            nlohmann::json p = prediction_json(i.models[m]);
            if (!i.truth.empty() && i.models[m].ok) p["correct"] = i.models[m].correct;
            r[models[m].name] = p;
        }
        if (i.both_ok()) r["agree"] = i.agree();
        rows.push_back(r);
    }
    j["predictions"] = rows;
    nlohmann::json single = nlohmann::json::array();
    for (size_t i : single_model_correct())
        single.push_back({{"file", images[i].relative}, {"true_label", images[i].truth},
                          {"correct_model", models[images[i].only_correct()].name}});
    if (labelled) j["single_model_correct"] = single;
    return j;
}

}  // namespace vitc
