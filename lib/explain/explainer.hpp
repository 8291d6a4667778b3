#pragma once
// One image in, its prediction and a map of where the evidence lies out: attention rollout for a
// ViT, read at the token its head reads (the class token, or the mean of the patch tokens), plus
// on request one layer's attention; for a ResNet, Grad-CAM of the predicted class on layer3 (the
// stage before the last: twice the side of layer4's grid), then the class activation map of
// layer4. Owns a batch-1 session with the probes attached.
#include <memory>
#include <string>
#include <vector>

#include "explain/plain_resnet.hpp"
#include "models/probes.hpp"
#include "models/model.hpp"
#include "models/prediction.hpp"

namespace vitc {

struct Explanation {
    std::string method;            // e.g. "attention rollout", "Grad-CAM on layer3"
    int64_t height = 0, width = 0; // the map's grid: patches, or the last feature map
    std::vector<float> map;        // [height * width], min-max normalised to [0, 1]
};

struct ExplainedImage {
    Prediction prediction;
    int predicted = 0;                      // top-1 class
    std::vector<Explanation> explanations;  // the main map first
};

class Explainer {
public:
    // Throws Error for a model that offers no probe.
    explicit Explainer(const Model& model);

    const Model& model() const { return model_; }
    int layers() const { return layers_; }  // attention layers; 0 for a CNN
    int64_t heads() const { return heads_; }
    // Every layer's attention probabilities in the last explain(), [heads, T, T] each (ViT only).
    const std::vector<std::vector<float>>& attention() const { return attention_; }

    // input: one preprocessed image ([C, H, W] at the model's input size). layer >= 0 adds that
    // layer's head-averaged attention of the class token (ViT only; Error otherwise).
    ExplainedImage explain(const float* input, int layer = -1);

private:
    const Model& model_;
    std::unique_ptr<Session> session_;
    AttentionProbe* attention_probe_ = nullptr;
    FeatureMapProbe* feature_probe_ = nullptr;
    int layers_ = 0;
    int64_t heads_ = 0, tokens_ = 0, prefix_ = 0, grid_h_ = 0, grid_w_ = 0;
    bool mean_pooling_ = false;             // the ViT's head reads the mean of the patch tokens
    std::unique_ptr<PlainResNet> resnet_;   // for Grad-CAM; null for other CNNs
    std::vector<std::vector<float>> attention_;  // per layer [H, T, T], filled during run()
    dnnl::stream stream_;
    dnnl::memory attention_f32_;  // plain f32 copy of the session's probabilities
    dnnl::reorder to_f32_;
};

}  // namespace vitc
