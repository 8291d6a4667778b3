#pragma once
// What an explanation needs to see inside a forward pass. A Session that can show it also
// derives from one of these; explanations find them with dynamic_cast, so the Model and Session
// interfaces stay as they are and a session that is never probed pays nothing.
#include <cstdint>
#include <dnnl.hpp>
#include <functional>

#include "tensor.hpp"

namespace vitc {

// Transformers: every layer's attention probabilities softmax(Q K^T / sqrt(d)), [N, H, T, T]
// (N images, H heads, T tokens, rows attend to columns), in the session's own memory: plain
// layout, f32 or bf16 as the model runs. The observer is called during run(), once per layer in
// order, after the softmax has finished; the memory is overwritten by the next layer.
using AttentionObserver = std::function<void(int layer, const dnnl::memory& probabilities)>;

class AttentionProbe {
public:
    virtual ~AttentionProbe() = default;
    // An empty observer stops the copying.
    virtual void observe_attention(AttentionObserver observer) = 0;
};

// CNNs with global average pooling and one linear classifier: the last feature map, and the
// classifier applied to its spatial mean (logits = W mean_yx(features) + b).
struct FeatureMapShape {
    int64_t batch = 0, channels = 0, height = 0, width = 0;
};

class FeatureMapProbe {
public:
    virtual ~FeatureMapProbe() = default;
    virtual FeatureMapShape feature_shape() const = 0;
    // The feature map of the last run(): [N, F, h, w] row-major, feature_shape() sized.
    virtual void copy_features(float* out) = 0;
    virtual const Tensor& classifier_weight() const = 0;  // [K, F]
    virtual const Tensor& classifier_bias() const = 0;    // [K]
};

}  // namespace vitc
