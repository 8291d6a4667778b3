#pragma once
// `vitc train --init-from MODEL_DIR --freeze-backbone`: a linear probe. The backbone's pooled
// features are computed once per image (Eval mode, no augmentation) and only the classifier head
// trains on them, with the trainer's loss, optimiser, schedule and checkpoints; the model
// directory written is the whole model, its backbone unchanged and the new head.
//
//   features [images, F] = backbone(image)    once, before the first step
//   logits   [N, K]      = features W^T + b   per step: W [K, F] and b [K] are all that train
//
// LinearProbe is itself a TrainModel: its parameters are the head's two tensors, and its
// sessions take feature rows [N, F] where a model's take images.
#include <iosfwd>
#include <memory>
#include <vector>

#include "train/dataset.hpp"
#include "train/train_model.hpp"

namespace vitc::train {

// The features of some images of a dataset, a row each.
class FeatureTable {
public:
    FeatureTable(size_t images, int64_t width) : width_(width), row_of_(images, -1) {}
    int64_t width() const { return width_; }
    // Appends image i's row (F floats).
    void add(uint32_t image, const float* features);
    // x [n, F] = the rows of images indices[0..n), labels [n] their labels in `data`.
    void fill(const ImageDataset& data, const uint32_t* indices, int n, float* x, int* labels) const;

private:
    int64_t width_;
    std::vector<int64_t> row_of_;  // [images]: the row of image i, or -1
    std::vector<float> rows_;
};

class LinearProbe : public TrainModel {
public:
    // `backbone` with its starting weights: backbone->initialise(.., seed) (a pretrained model's).
    LinearProbe(std::unique_ptr<TrainModel> backbone, uint64_t seed);

    const ParameterLayout& parameters() const override { return head_layout_; }
    const ParameterLayout& state() const override { return no_state_; }
    int classes() const override { return backbone_->classes(); }
    // The head as the backbone's initialise() left it (kept, or fresh from `seed` given above).
    void initialise(float* parameters, float* state, uint64_t seed) const override;
    std::unique_ptr<TrainSession> session(int batch, const SessionOptions& options) const override;
    nlohmann::json config() const override;
    // The backbone's model directory with this head.
    void write_model_directory(const std::string& directory, const float* parameters, const float* state,
                               const std::vector<float>& mean, const std::vector<float>& std) const override;
    Head head() const override { return backbone_->head(); }

    // The features of `images` of `data` (normalised with mean/std), `batch` at a time; a line
    // with the count and the time goes to `out` (and, with `progress`, a live count).
    FeatureTable compute_features(const ImageDataset& data, const std::vector<uint32_t>& images,
                                  const std::vector<float>& mean, const std::vector<float>& std, int batch,
                                  const SessionOptions& options, std::ostream& out, bool progress = false) const;

private:
    std::unique_ptr<TrainModel> backbone_;
    std::vector<float> weights_, state_;  // the backbone's, laid out by its parameters() and state()
    ParameterLayout head_layout_, no_state_;
    int64_t features_ = 0;                // F
};

}  // namespace vitc::train
