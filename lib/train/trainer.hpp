#pragma once
// `vitc train`: a ViT or a ResNet (train/train_models.hpp) trained from scratch on a labelled folder or IDX files, to a model
// directory vitc loads. Per epoch: a seeded shuffle, steps of forward, loss, backward, clipping
// and an optimiser update; then validation, train_log.jsonl, the best-on-validation weights and
// a checkpoint. A stop request (Ctrl-C) writes a checkpoint at the current step; --resume
// continues from it to the same weights an uninterrupted run reaches (same thread count).
#include <atomic>
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <memory>
#include <string>
#include <vector>

#include "train/augment.hpp"
#include "train/dataset.hpp"
#include "train/optimizer.hpp"
#include "train/train_model.hpp"

namespace vitc::train {

struct TrainOptions {
    std::string data;            // folder or IDX folder (train/dataset.hpp)
    std::string out;             // the model directory written (with checkpoint and log)
    std::string arch = "vit";    // a preset name (see architecture_presets()) or a config.json
    int epochs = 10;
    int batch_size = 128;
    OptimizerSettings optimizer;
    float warmup_epochs = 1.0f;
    float label_smoothing = 0.1f;
    float val_split = 0.1f;
    int64_t limit = 0;           // use a seeded random subset of this many images (0: all)
    uint64_t seed = 0;
    bool resume = false;
    bool progress = false;       // a live step line (for a terminal); epoch lines either way
    TrainAttention attention = TrainAttention::Auto;
    Precision precision = Precision::F32;
    Augmentation augment;        // none by default
    std::string init_from;       // --init-from MODEL_DIR: fine-tune that model (train/init_from.hpp)
    bool freeze_backbone = false;  // with init_from: train the head alone (train/linear_probe.hpp)
    std::string distill_from;    // --distill-from MODEL_DIR: a teacher's top-1 joins the loss (train/distillation.hpp)
    float distill_weight = 0.5f; // w of that loss
    std::string val;             // --val DIR: validate on this labelled folder instead of a split
    int image_size = 0;          // resize folder images to this square size (0: the architecture's or the data's)
    DecodeLimits limits;         // for folder images; worker_executable set: decoded in a child process
    // vitc study: the data already decoded (used instead of reading `data`), and which of its
    // images to train and validate on (the split and `limit` apply to them); empty: all.
    std::shared_ptr<const ImageDataset> dataset;
    std::vector<uint32_t> subset;
};

// One training run. Lines of progress go to `out`. Returns 0 when every epoch ran, or 130 when
// `stop` was set (a checkpoint holds the position). `after_step` (tests) sees each step number.
int run_training(const TrainOptions& options, const std::atomic<bool>& stop, std::ostream& out,
                 const std::function<void(int64_t step)>& after_step = {});

// Paths inside the output directory.
std::string checkpoint_file(const std::string& out);
std::string train_log_file(const std::string& out);

}  // namespace vitc::train
