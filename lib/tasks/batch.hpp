#pragma once
// Classifying a list of images in batches: bad images are recorded with their reason and the run
// goes on; on labelled folders, top-1/top-5 accuracy and a confusion matrix.
#include <functional>
#include <map>
#include <nlohmann/json_fwd.hpp>
#include <ostream>
#include <string>
#include <vector>

#include "tasks/classifier.hpp"
#include "tasks/image_folder.hpp"

namespace vitc {

struct BatchRow {
    const ImageEntry* image = nullptr;
    bool ok = false;
    std::string error;        // when !ok
    Prediction prediction;    // when ok
    uint32_t conversions = 0; // what the preprocessing changed (InputConversion bits), when ok
};

struct BatchReport {
    size_t images = 0;
    size_t failed = 0;
    bool interrupted = false;     // stopped early by should_stop (e.g. Ctrl-C)
    double seconds = 0;           // wall time of the whole run
    double decode_seconds = 0;      // reading and decoding files, on the worker thread (overlaps the model)
    double preprocess_seconds = 0;  // resize, crop, normalise, on the worker thread
    double model_seconds = 0;     // the forward passes
    // Over the images with a known label that were classified:
    size_t evaluated = 0, top1_correct = 0, top5_correct = 0;
    std::vector<std::vector<size_t>> confusion;  // [true][predicted], empty when unlabelled
    // Top-5 needs five labels per row: rows kept by --resume from a narrower output have fewer.
    size_t top5_evaluated = 0;
    // Images the preprocessing converted, per InputConversion bit (said once per run).
    std::map<uint32_t, size_t> converted;
    size_t converted_images = 0;
    // In a labelled folder, images outside the label folders, by folder (classified, not scored).
    std::vector<std::pair<std::string, size_t>> not_scored;

    // Counts one row (ok or not) into the totals, the accuracy and the conversions.
    void add(const BatchRow& row, size_t classes);
    // Counts one row from what it holds (add() for this run's rows; --resume for the rows it kept,
    // so the summary covers the whole folder).
    // ranked: the label indices the row holds, best first (empty for an error row).
    void add_earlier(bool ok, const std::vector<int>& ranked, int truth, size_t classes);

    size_t kept = 0, kept_failed = 0;  // of which rows kept from an earlier run by --resume

    // Over the images classified in this run.
    double images_per_second() const { return seconds > 0 ? (images - kept - (failed - kept_failed)) / seconds : 0; }
    void print_text(std::ostream& out, const std::vector<std::string>& labels) const;
    nlohmann::json to_json(const std::vector<std::string>& labels) const;
    // One line on what the preprocessing changed, for stderr; empty when nothing was converted.
    std::string conversion_notice() const;
};

// A prediction in JSON, the same shape everywhere (classify, batch, compare):
// [{"label": ..., "index": ..., "prob": ...}, ...], best first.
nlohmann::ordered_json top_json(const Prediction& prediction, const std::vector<std::string>& labels, int k);
// {"file": path}, plus "file_bytes" (hex) when the name is not UTF-8 (JSON strings must be): the
// start of every JSON row about a file.
nlohmann::ordered_json file_json(const std::string& path);
// {"converted": ["colour to grey", ...]} for the "input" field; null when nothing was converted.
nlohmann::ordered_json input_json(uint32_t conversions);

// A labelled text table: rows are true labels, columns predicted indices.
void print_confusion_matrix(std::ostream& out, const std::vector<std::string>& labels,
                            const std::vector<std::vector<size_t>>& confusion);

constexpr int kMaxBatchSize = 4096;

// Runs every image through the classifier, batch_size at a time, calling on_row for each image
// in order and on_progress(done, total) after each batch. should_stop is asked before each
// batch; when it says yes the run ends with the rows done so far.
BatchReport run_batch(Classifier& classifier, const std::vector<ImageEntry>& images, int batch_size,
                      const std::function<void(const BatchRow&)>& on_row,
                      const std::function<void(size_t, size_t)>& on_progress,
                      const std::function<bool()>& should_stop = [] { return false; });

// Output rows: CSV (header + one line per image) or JSON Lines.
class RowWriter {
public:
    enum class Format { Csv, JsonLines };
    // Writes the CSV header at once unless told not to (a resumed output has it already).
    RowWriter(std::ostream& out, Format format, const std::vector<std::string>& labels, int top_k,
              bool write_header = true);
    void write(const BatchRow& row);
    // The CSV header line for top_k labels per row, with its newline.
    static std::string csv_header(int top_k);

private:
    std::ostream& out_;
    Format format_;
    const std::vector<std::string>& labels_;
    int top_k_;
};

std::string csv_field(const std::string& value);

}  // namespace vitc
