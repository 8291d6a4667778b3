#pragma once
// The ViT as a TrainModel (train/train_model.hpp): vit_train.hpp's layout, initialisation and
// session behind the interface the trainer uses. A ViT has no state outside its parameters.
#include "train/train_model.hpp"
#include "train/vit_train.hpp"

namespace vitc::train {

class ViTTrainModel : public TrainModel {
public:
    explicit ViTTrainModel(ViTArchitecture arch);

    const ViTArchitecture& architecture() const { return arch_; }
    const ParameterLayout& parameters() const override { return layout_; }
    const ParameterLayout& state() const override { return state_; }
    int classes() const override { return arch_.classes(); }
    void initialise(float* parameters, float* state, uint64_t seed) const override;
    std::unique_ptr<TrainSession> session(int batch, const SessionOptions& options) const override;
    nlohmann::json config() const override;
    void write_model_directory(const std::string& directory, const float* parameters, const float* state,
                               const std::vector<float>& mean, const std::vector<float>& std) const override;
    Head head() const override { return {"head.weight", "head.bias"}; }

private:
    ViTArchitecture arch_;
    ParameterLayout layout_, state_;
};

}  // namespace vitc::train
