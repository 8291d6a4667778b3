#pragma once
// Two models on the same images: each image's top-1 from both and whether they agree; on a
// labelled folder each model's top-1/top-5, per-class accuracy and confusion matrix, and the
// images exactly one of them gets right; and what each costs: parameters, FLOPs per image,
// batch-1 latency and batched throughput, measured in the same process one after the other.
#include <array>
#include <nlohmann/json_fwd.hpp>
#include <ostream>
#include <string>
#include <vector>

#include "image/decode.hpp"
#include "models/model.hpp"
#include "tasks/batch.hpp"
#include "tasks/benchmark.hpp"
#include "tasks/image_folder.hpp"

namespace vitc {

struct CompareOptions {
    int batch_size = 32;        // images per forward pass while classifying
    int throughput_batch = 32;  // batch of the throughput measurement
    int min_latency_runs = 20;  // batch-1 latency: the median of at least this many runs after warm-up
    int timing_rounds = 3;      // each timing repeated, alternating models; the spread is reported
    DecodeLimits limits;
};

struct ComparedModel {
    std::string name;       // "ViT", "CNN"
    std::string directory;
    const Model* model = nullptr;
    ModelSummary summary;
    BatchReport report;           // accuracy and confusion over the images (labels by name)
    BenchmarkResult latency;      // batch 1; latency_ms_median: the median over the rounds
    BenchmarkResult throughput;   // batch CompareOptions::throughput_batch; images_per_second likewise
    // One value per timing round (rounds alternate between the two models, so both see the same
    // machine): batch-1 median latency and batched throughput.
    std::vector<double> latency_rounds_ms, throughput_rounds;

    // Per true class (the model's label order): correct / images of that class; -1 without images.
    std::vector<double> per_class_accuracy() const;
};

struct ImagePrediction {
    bool ok = false;
    std::string error;      // when !ok
    int index = -1;         // top-1 in the model's labels
    std::string label;
    float probability = 0;
    bool correct = false;   // top-1 is the true label
};

struct ComparedImage {
    std::string path, relative;
    std::string truth;  // the true label's name, or "" when unknown
    std::array<ImagePrediction, 2> models;

    bool both_ok() const { return models[0].ok && models[1].ok; }
    bool agree() const { return both_ok() && models[0].label == models[1].label; }
    // The model that alone is right (0 or 1), or -1.
    int only_correct() const;
};

struct CompareReport {
    std::string input;  // the image or folder given
    std::array<ComparedModel, 2> models;
    std::vector<ComparedImage> images;
    bool labelled = false;
    // In a labelled folder, images outside the label folders, by folder (classified, not scored).
    std::vector<std::pair<std::string, size_t>> not_scored;
    // The machine while timing: the 1-minute load average before the rounds, the cores, and
    // whether the timings should be read as rough (other work running, or rounds far apart).
    double load_average = 0;
    int cores = 0;
    bool busy = false;
    double spread = 1;  // the largest max/min ratio over the rounds of one measurement

    size_t compared() const;    // images both models classified
    size_t agreements() const;
    std::vector<size_t> single_model_correct() const;  // indices into images

    // max_listed: how many single-model-correct images (and, unlabelled, disagreements) to name.
    void print_text(std::ostream& out, size_t max_listed = 20) const;
    nlohmann::json to_json() const;
};

// Classifies `images` with both models and times them. Each image's label index refers to
// `listing_labels`; it is matched to each model's labels by name.
CompareReport compare_models(const std::array<const Model*, 2>& models, const std::array<std::string, 2>& names,
                             const std::array<std::string, 2>& directories, const std::string& input,
                             const std::vector<ImageEntry>& images, const std::vector<std::string>& listing_labels,
                             const CompareOptions& options);

}  // namespace vitc
