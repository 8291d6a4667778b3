#pragma once
// `vitc study`: does a ViT or a CNN suit this much data? Both families are trained on nested,
// class-balanced subsets of the training data (each subset holds the smaller ones), each with one
// recipe, and every trained model is measured once on the test set through vitc's inference
// path. The result is study.json and report.html: test accuracy against training-set size for
// both, parameters and training time per point, and where the curves cross or the gap at each
// size. A stopped study continues where it stopped: finished runs are kept (runs/NAME/result.json)
// and an interrupted run resumes from its checkpoint.
#include <atomic>
#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "image/decode.hpp"
#include "runtime/precision.hpp"

namespace vitc {

struct StudyOptions {
    std::string data;  // the training data: a labelled folder or the IDX files (as vitc train reads)
    std::string test;  // the test data: a labelled folder with the same classes, or the t10k IDX files
    std::string out;   // the report folder (study.json, report.html, runs/)
    std::vector<int64_t> sizes{600, 1800, 6000, 18000, 55000};  // training images per point
    std::string vit = "vit";     // --arch for the ViT runs: a preset or a config.json
    std::string cnn = "resnet";  // --arch for the CNN runs
    // The budget per run: `steps` optimiser steps whatever the size (the default, see study.cpp),
    // or `epochs` passes over each subset when steps is 0.
    int64_t steps = 2000;
    int epochs = 0;
    int batch_size = 128;
    float lr_vit = 1e-3f, lr_cnn = 1e-3f;
    float val_split = 0.1f;      // of each subset, for choosing the best epoch
    std::string augment = "crop=2,flip";
    Precision precision = Precision::F32;
    uint64_t seed = 0;
    DecodeLimits limits;
    // Tokens per image: the ViT retrained with each of these patch sizes (1: every pixel a token)
    // on one subset of patch_sweep_size images (0: the smallest of `sizes`), with the same recipe.
    std::vector<int> patch_sizes;
    int64_t patch_sweep_size = 0;
};

struct StudyPoint {
    std::string family;  // "vit" or "cnn"
    int64_t size = 0;    // training-set size (train + validation images of the subset)
    int64_t parameters = 0;
    int epochs = 0;
    int64_t steps = 0;
    double train_seconds = 0;
    double val_accuracy = 0;   // of the weights kept (best on validation)
    double test_accuracy = 0;  // those weights on the whole test set
    int64_t test_images = 0;
    int patch_size = 0;   // the patch-size sweep's points only: the ViT's patch size
    int64_t tokens = 0;   // and its tokens per image (the class token included)

    nlohmann::json to_json() const;
    static StudyPoint from_json(const nlohmann::json& j);
};

// Runs (or continues) the study; progress lines go to `out`. Returns 0 when done, 130 when `stop`
// was set (the running run keeps a checkpoint; rerunning the same command continues).
int run_study(const StudyOptions& options, const std::atomic<bool>& stop, std::ostream& out);

// What the points show, in one sentence per finding: where the test-accuracy curves cross, or
// that one family is ahead at every size and by how much.
std::vector<std::string> study_findings(const std::vector<StudyPoint>& points);

}  // namespace vitc
