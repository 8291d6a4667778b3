#include "tasks/batch.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <future>
#include <iomanip>
#include <nlohmann/json.hpp>

#include "errors.hpp"
#include "image/preprocess.hpp"
#include "io/printable.hpp"
#include "tasks/resume.hpp"

namespace vitc {

using json = nlohmann::json;

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
    return std::chrono::duration<double>(Clock::now() - start).count();
}

bool all_finite(const std::vector<float>& values) {
    return std::all_of(values.begin(), values.end(), [](float v) { return std::isfinite(v); });
}

// One batch, decoded and preprocessed: the images that loaded are packed at the front of
// `inputs`, in order; `loaded` says which rows they belong to.
struct LoadedBatch {
    std::vector<BatchRow> rows;
    std::vector<size_t> loaded;
    std::vector<float> inputs;
    Classifier::LoadTimes times;  // images that failed to decode count too
    bool interrupted = false;     // the stop check ended the loading; the rows are not to be used
};

LoadedBatch load_batch(const Classifier& classifier, const std::vector<ImageEntry>& images, size_t first,
                       size_t count) {
    const size_t input_size = classifier.input_size();
    LoadedBatch batch;
    batch.rows.resize(count);
    batch.inputs.resize(input_size * count);
    for (size_t i = 0; i < count; ++i) {
        batch.rows[i].image = &images[first + i];
        try {
            classifier.load_image(images[first + i].path, batch.inputs.data() + batch.loaded.size() * input_size,
                                  &batch.times, &batch.rows[i].conversions);
            batch.loaded.push_back(i);
        } catch (const LoadInterrupted&) {
            batch.interrupted = true;
            break;
        } catch (const std::exception& e) {  // ImageError; anything else is still this image's fault
            batch.rows[i].error = e.what();
        }
    }
    return batch;
}

}  // namespace

// A pipeline of two stages: while the model runs batch k (oneDNN's OpenMP threads), a worker
// thread decodes and preprocesses batch k+1 (OpenCV).
BatchReport run_batch(Classifier& classifier, const std::vector<ImageEntry>& images, int batch_size,
                      const std::function<void(const BatchRow&)>& on_row,
                      const std::function<void(size_t, size_t)>& on_progress,
                      const std::function<bool()>& should_stop) {
    // As bench's limit: beyond this a forward pass gains nothing and its buffers grow without bound.
    if (batch_size < 1 || batch_size > kMaxBatchSize)
        throw Error("--batch-size must be between 1 and " + std::to_string(kMaxBatchSize) + ", not " +
                    std::to_string(batch_size));
    const auto start = Clock::now();
    const size_t classes = classifier.model().labels().size(), step = static_cast<size_t>(batch_size);
    BatchReport report;
    auto load = [&](size_t first) {
        return std::async(std::launch::async, load_batch, std::cref(classifier), std::cref(images), first,
                          std::min(images.size() - first, step));
    };
    classifier.set_stop_check(should_stop);  // an image loader stops waiting for its child
    std::future<LoadedBatch> next;
    if (!images.empty()) next = load(0);

    for (size_t first = 0; first < images.size(); first += step) {
        LoadedBatch batch = next.get();
        if (batch.interrupted || should_stop()) {
            report.interrupted = true;
            break;
        }
        if (first + step < images.size()) next = load(first + step);
        report.decode_seconds += batch.times.decode_seconds;
        report.preprocess_seconds += batch.times.preprocess_seconds;
        if (!batch.loaded.empty()) {
            const auto model_start = Clock::now();
            std::vector<Prediction> predictions =
                classifier.run(batch.inputs.data(), static_cast<int>(batch.loaded.size()));
            report.model_seconds += seconds_since(model_start);
            for (size_t j = 0; j < batch.loaded.size(); ++j) {
                BatchRow& row = batch.rows[batch.loaded[j]];
                if (!all_finite(predictions[j].logits)) {  // never an "ok" row about NaN
                    row.error = row.image->path + ": the model gave non-finite logits (NaN or infinity)";
                    continue;
                }
                row.ok = true;
                row.prediction = std::move(predictions[j]);
            }
        }
        for (const BatchRow& row : batch.rows) {
            report.add(row, classes);
            on_row(row);
        }
        on_progress(first + batch.rows.size(), images.size());
    }
    if (next.valid()) next.wait();  // an interrupted run still joins its worker (it stops within 50 ms)
    classifier.set_stop_check(nullptr);
    report.seconds = seconds_since(start);
    return report;
}

void BatchReport::add(const BatchRow& row, size_t classes) {
    std::vector<int> ranked;
    if (row.ok) {
        if (row.conversions) {
            ++converted_images;
            for (uint32_t bit = 1; bit <= kUpscaled; bit <<= 1)
                if (row.conversions & bit) ++converted[bit];
        }
        for (const Ranked& r : top_k(row.prediction, 5)) ranked.push_back(r.index);
    }
    add_earlier(row.ok, ranked, row.image->label, classes);
}

void BatchReport::add_earlier(bool ok, const std::vector<int>& ranked, int truth, size_t classes) {
    ++images;
    if (!ok) {
        ++failed;
        return;
    }
    if (truth < 0 || ranked.empty() || truth >= static_cast<int>(classes) || ranked[0] < 0 ||
        ranked[0] >= static_cast<int>(classes))
        return;
    ++evaluated;
    if (ranked[0] == truth) ++top1_correct;
    if (ranked.size() >= 5 || ranked.size() == classes) {
        ++top5_evaluated;
        if (std::find(ranked.begin(), ranked.end(), truth) != ranked.end()) ++top5_correct;
    }
    if (confusion.empty()) confusion.assign(classes, std::vector<size_t>(classes, 0));
    ++confusion[truth][ranked[0]];
}

std::string BatchReport::conversion_notice() const {
    if (!converted_images) return "";
    std::string kinds;
    for (const auto& [bit, count] : converted)
        kinds += (kinds.empty() ? "" : ", ") + conversion_names(bit)[0] + ": " + std::to_string(count);
    return std::to_string(converted_images) + " of " + std::to_string(images - failed) +
           " images were converted for the model (" + kinds +
           "); the answers are about the converted images (\"input\" in JSON rows; --strict-input refuses them)";
}

nlohmann::ordered_json top_json(const Prediction& prediction, const std::vector<std::string>& labels, int k) {
    nlohmann::ordered_json top = nlohmann::ordered_json::array();
    for (const Ranked& r : top_k(prediction, k))
        top.push_back(nlohmann::ordered_json{{"label", labels[r.index]}, {"index", r.index}, {"prob", r.probability}});
    return top;
}

nlohmann::ordered_json file_json(const std::string& path) {
    nlohmann::ordered_json j = {{"file", path}};
    if (!is_valid_utf8(path)) j["file_bytes"] = hex_bytes(path);
    return j;
}

nlohmann::ordered_json input_json(uint32_t conversions) {
    if (!conversions) return nullptr;
    return nlohmann::ordered_json{{"converted", conversion_names(conversions)}};
}

void BatchReport::print_text(std::ostream& out, const std::vector<std::string>& labels) const {
    out << std::fixed << std::setprecision(1);
    if (interrupted) out << "interrupted: the rows done so far are kept (continue with --resume)\n";
    out << "images: " << images << ", classified: " << images - failed << ", failed: " << failed;
    if (kept) out << " (" << kept << " of them kept from the earlier run)";
    out << "\n";
    // Decoding and preprocessing overlap the model (pipelined), so the parts add up to more than
    // the wall time when the pipeline works.
    out << "time: " << seconds << " s, " << images_per_second() << " images/s" << std::setprecision(2)
        << " (on a worker thread: decode " << decode_seconds << " s, preprocess " << preprocess_seconds
        << " s; model " << model_seconds << " s)\n";
    for (size_t i = 0; i < not_scored.size(); ++i)
        out << (i ? ", " : "not scored (no label matches the folder): ") << printable(not_scored[i].first) << " ("
            << not_scored[i].second << ")" << (i + 1 == not_scored.size() ? "\n" : "");
    if (evaluated == 0) return;
    out << std::setprecision(2) << "accuracy on " << evaluated << " labelled images: top-1 "
        << 100.0 * top1_correct / evaluated << "%";
    if (top5_evaluated == evaluated) out << ", top-5 " << 100.0 * top5_correct / evaluated << "%";
    else if (top5_evaluated) out << ", top-5 " << 100.0 * top5_correct / top5_evaluated << "% (of the " << top5_evaluated
                                 << " rows that hold five labels)";
    out << "\n";
    out << "confusion matrix (rows: true label, columns: predicted index)\n";
    print_confusion_matrix(out, labels, confusion);
}

void print_confusion_matrix(std::ostream& out, const std::vector<std::string>& labels,
                            const std::vector<std::vector<size_t>>& confusion) {
    std::vector<std::string> shown;  // the labels as a terminal may see them
    size_t width = 0;
    for (const auto& l : labels) width = std::max(width, (shown.emplace_back(printable(l))).size());
    out << std::setw(static_cast<int>(width) + 4) << "";
    for (size_t j = 0; j < labels.size(); ++j) out << std::setw(6) << j;
    out << "\n";
    for (size_t i = 0; i < labels.size(); ++i) {
        out << std::setw(2) << i << "  " << std::left << std::setw(static_cast<int>(width)) << shown[i] << std::right;
        for (size_t j = 0; j < labels.size(); ++j) out << std::setw(6) << confusion[i][j];
        out << "\n";
    }
}

nlohmann::json BatchReport::to_json(const std::vector<std::string>& labels) const {
    nlohmann::json j = {{"images", images},
                        {"classified", images - failed},
                        {"failed", failed},
                        {"interrupted", interrupted},
                        {"kept_from_earlier_run", kept},
                        {"seconds", seconds},
                        {"images_per_second", images_per_second()},
                        {"decode_seconds", decode_seconds},
                        {"preprocess_seconds", preprocess_seconds},
                        {"model_seconds", model_seconds}};
    if (converted_images) {
        json kinds = json::object();
        for (const auto& [bit, count] : converted) kinds[conversion_names(bit)[0]] = count;
        j["converted"] = {{"images", converted_images}, {"kinds", kinds}};
    }
    if (!not_scored.empty()) {
        json folders = json::object();
        for (const auto& [name, count] : not_scored) folders[name] = count;
        j["not_scored"] = folders;
    }
    if (evaluated) {
        j["evaluated"] = evaluated;
        j["top1_accuracy"] = static_cast<double>(top1_correct) / evaluated;
        if (top5_evaluated) j["top5_accuracy"] = static_cast<double>(top5_correct) / top5_evaluated;
        j["top5_evaluated"] = top5_evaluated;
        j["labels"] = labels;
        j["confusion_matrix"] = confusion;
    }
    return j;
}

std::string csv_field(const std::string& value) {
    if (value.find_first_of(",\"\n\r") == std::string::npos) return value;
    std::string quoted = "\"";
    for (char c : value) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
    return quoted + "\"";
}

std::string RowWriter::csv_header(int top_k) {
    std::string header = "file,status,label,index,prob";
    for (int k = 2; k <= top_k; ++k) {
        const std::string n = std::to_string(k);
        header += ",label" + n + ",index" + n + ",prob" + n;
    }
    return header + ",true_label,correct,converted,error\n";
}

RowWriter::RowWriter(std::ostream& out, Format format, const std::vector<std::string>& labels, int top_k,
                     bool write_header)
    : out_(out), format_(format), labels_(labels), top_k_(top_k) {
    if (format_ == Format::Csv && write_header) {
        out_ << csv_header(top_k_);
        out_.flush();
    }
}

void RowWriter::write(const BatchRow& row) {
    const int truth = row.image->label;
    const std::vector<Ranked> top = row.ok ? top_k(row.prediction, top_k_) : std::vector<Ranked>{};
    if (format_ == Format::JsonLines) {
        // A name that is not UTF-8 gets its exact bytes too, or two such names would read back as
        // one (and --resume would redo or drop them).
        nlohmann::ordered_json j = file_json(row.image->relative);
        j["status"] = row.ok ? "ok" : "error";
        if (row.ok) {
            j["top"] = top_json(row.prediction, labels_, top_k_);
            if (row.conversions) j["input"] = input_json(row.conversions);
        } else {
            j["error"] = row.error;
        }
        if (truth >= 0) {
            j["true_label"] = labels_[truth];
            if (row.ok) j["correct"] = top[0].index == truth;
        }
        out_ << j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    } else {
        out_ << csv_field(row.image->relative) << "," << (row.ok ? "ok" : "error");
        for (int k = 0; k < top_k_; ++k) {
            if (k < static_cast<int>(top.size()))
                out_ << "," << csv_field(labels_[top[k].index]) << "," << top[k].index << "," << std::setprecision(6)
                     << top[k].probability;
            else
                out_ << ",,,";
        }
        std::string converted;
        for (const std::string& name : conversion_names(row.conversions)) converted += (converted.empty() ? "" : ";") + name;
        out_ << "," << (truth >= 0 ? csv_field(labels_[truth]) : "") << ","
             << (truth >= 0 && row.ok ? (top[0].index == truth ? "1" : "0") : "") << "," << converted << ","
             << csv_field(row.error) << "\n";
    }
    out_.flush();
}

}  // namespace vitc
