#include "train/vit_train_model.hpp"

#include "train/model_export.hpp"

namespace vitc::train {

namespace {

class ViTSession : public TrainSession {
public:
    ViTSession(const ViTArchitecture& arch, const ParameterLayout& layout, int batch, const SessionOptions& options)
        : arch_(arch), layout_(layout), session_(arch, batch, options.attention, options.precision) {}

    int batch() const override { return session_.batch(); }
    const float* forward(const float* parameters, float* /*state*/, const float* images, Mode /*mode*/) override {
        return session_.forward(views(parameters), images);
    }
    void backward(const float* parameters, float* gradients, const float* dlogits) override {
        session_.backward(views(parameters), vit_parameter_views(arch_, layout_, gradients), dlogits);
    }
    std::vector<std::string> implementations() const override { return session_.implementations(); }
    const float* features(const float* parameters, float* /*state*/, const float* images) override {
        session_.forward(views(parameters), images);  // a ViT has no Train/Eval difference
        return session_.activations().pooled.data();
    }

private:
    // The session only reads parameters; the views are non-const because gradients share the type.
    ViTParameters views(const float* parameters) const {
        return vit_parameter_views(arch_, layout_, const_cast<float*>(parameters));
    }

    const ViTArchitecture& arch_;
    const ParameterLayout& layout_;
    ViTTrainSession session_;
};

}  // namespace

ViTTrainModel::ViTTrainModel(ViTArchitecture arch) : arch_(std::move(arch)) {
    check_architecture(arch_);
    layout_ = vit_parameter_layout(arch_);
}

void ViTTrainModel::initialise(float* parameters, float* /*state*/, uint64_t seed) const {
    init_vit_parameters(arch_, layout_, parameters, seed);
}

std::unique_ptr<TrainSession> ViTTrainModel::session(int batch, const SessionOptions& options) const {
    return std::make_unique<ViTSession>(arch_, layout_, batch, options);
}

nlohmann::json ViTTrainModel::config() const { return vit_config_json(arch_); }

void ViTTrainModel::write_model_directory(const std::string& directory, const float* parameters,
                                          const float* /*state*/, const std::vector<float>& mean,
                                          const std::vector<float>& std) const {
    std::vector<TensorToWrite> tensors;
    for (const ParameterTensor& t : layout_.tensors()) tensors.push_back({t.name, t.shape, parameters + t.offset});
    write_trained_model_directory(directory, tensors, config(), arch_.config.labels, arch_.config.image_height,
                                  arch_.config.image_width, mean, std);
}

}  // namespace vitc::train
