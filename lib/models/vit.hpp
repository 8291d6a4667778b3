#pragma once
// The Vision Transformer (Dosovitskiy et al., 2021) on one page:
//
//   tokens  = [class; patchify(image) W_patch^T + b_patch] + position      [T, D]
//             (shifted patch tokens: LN(patchify(image and 4 shifted copies)) W_patch^T + b_patch)
//   for each block:
//     x = x + proj(attention(LN1(x)))        attention = softmax(Q K^T / sqrt(d_head)) V per head
//     x = x + fc2(GELU(fc1(LN2(x))))
//   logits  = head(pool(LN(x)))                pool: the class token, or the mean of patch tokens
//   (locality self-attention: per head softmax(exp(t_h) Q K^T) with the diagonal masked; the
//   temperature is folded into the query weights at load)
//
// ViTModel holds the immutable weights, already reordered for oneDNN; ViTSession holds the
// primitives and buffers for one batch size and image size (see vit.cpp for the forward pass).
#include <memory>
#include <vector>

#include "io/model_config.hpp"
#include "io/weight_names.hpp"
#include "models/model.hpp"
#include "io/vit_weights.hpp"
#include "runtime/linear.hpp"
#include "runtime/precision.hpp"

namespace vitc {

// One block's parameters in the runtime's layouts.
struct ViTBlockParameters {
    dnnl::memory ln1_scale, ln1_shift, ln2_scale, ln2_shift;  // [D]
    runtime::LinearWeights qkv, proj, fc1, fc2;
};

class ViTModel : public Model {
public:
    // precision: the format of the transformer blocks' matmuls (see runtime/precision.hpp; the
    // patch embedding and the head, under 1% of the work, stay f32).
    ViTModel(ViTConfig config, Preprocessing preprocessing, WeightScheme scheme, const ViTWeights& weights,
             Precision precision = Precision::F32);

    const ViTConfig& config() const { return config_; }
    Precision precision() const { return precision_; }
    const std::vector<std::string>& labels() const override { return config_.labels; }
    void set_labels(std::vector<std::string> labels) override { config_.labels = std::move(labels); }
    const Preprocessing& preprocessing() const override { return preprocessing_; }
    int num_channels() const override { return config_.num_channels; }
    ModelSummary summary() const override;
    std::unique_ptr<Session> create_session(int batch, int height, int width) const override;

    // Positional embeddings for a grid_h x grid_w input, class-token row first: [T, D].
    std::vector<float> position_embedding(int grid_h, int grid_w) const;

    bool has_class_token() const { return !class_token_.empty(); }
    const std::vector<float>& class_token() const { return class_token_; }
    const runtime::LinearWeights& patch_embedding() const { return patch_embedding_; }
    // Shifted patch tokens only: the LayerNorm on each token's vector before the embedding.
    const dnnl::memory& patch_norm_scale() const { return patch_norm_scale_; }
    const dnnl::memory& patch_norm_shift() const { return patch_norm_shift_; }
    const std::vector<ViTBlockParameters>& blocks() const { return blocks_; }
    const dnnl::memory& norm_scale() const { return norm_scale_; }
    const dnnl::memory& norm_shift() const { return norm_shift_; }
    const runtime::LinearWeights& head() const { return head_; }

private:
    ViTConfig config_;
    Preprocessing preprocessing_;
    WeightScheme scheme_;
    Precision precision_;
    int64_t parameter_count_ = 0;
    std::vector<float> class_token_;         // [D] or empty
    std::vector<float> trained_position_;    // [T, D] learned, or empty for sincos2d
    runtime::LinearWeights patch_embedding_; // Conv2d(C, D, P, stride P) as a Linear on patches
    dnnl::memory patch_norm_scale_, patch_norm_shift_;  // [5*C*P*P], shifted patch tokens only
    std::vector<ViTBlockParameters> blocks_;
    dnnl::memory norm_scale_, norm_shift_;
    runtime::LinearWeights head_;
};

// The most tokens one image may have: what the activations of a one-image session (O(T D)
// with the tiled attention kernel, runtime/attention_kernel.hpp) leave of this machine's memory,
// and at most the count whose attention takes kMaxAttentionFlops (hours: a crafted config must
// not keep a machine busy for days).
constexpr double kMaxAttentionFlops = 1e15;
struct TokenLimit {
    int64_t tokens;
    const char* reason;
};
TokenLimit vit_token_limit(const ViTConfig& config);

}  // namespace vitc
