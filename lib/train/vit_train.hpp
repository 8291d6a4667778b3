#pragma once
// The Vision Transformer for training, llm.c style: the parameters as named views into one
// buffer (ViTParameters), the activations backward needs in one struct (ViTActivations), and a
// session of oneDNN primitives built once per batch size that runs forward and backward.
//
//   tokens = [class; patches W_patch^T + b_patch] + position                [N, T, D]
//            (shifted patch tokens: LN_patch(patches of the shifted copies) W_patch^T + b_patch)
//   block:   x_mid = x + proj(attention(LN1(x)));  x_out = x_mid + fc2(GELU(fc1(LN2(x_mid))))
//            (locality self-attention: head h's queries are multiplied by exp(t_h) sqrt(Dh) after
//            the qkv Linear, so the kernels' 1/sqrt(Dh) gives scores exp(t_h) q.k, and the
//            kernels mask the diagonal)
//   logits = head(pool(LN(x)))        pool: the class token, or the mean of the patch tokens
//
// N images, C channels, P patch size, Np patches per image, T = Np (+1 with a class token)
// tokens, D hidden, H heads of Dh = D/H, M MLP width, K classes.
#include <memory>
#include <string>
#include <vector>

#include "io/model_config.hpp"
#include "runtime/attention_train.hpp"
#include "runtime/gelu_train.hpp"
#include "runtime/layer_norm_train.hpp"
#include "runtime/tiled_attention.hpp"
#include "runtime/linear_train.hpp"
#include "train/parameters.hpp"
#include "train/train_model.hpp"

namespace vitc::train {

// The architecture: every size of ViTConfig must be set (image size, patch, channels, hidden,
// depth, heads, MLP width, labels, layer_norm_eps), plus whether a class token is prepended.
struct ViTArchitecture {
    ViTConfig config;
    bool class_token = true;

    int grid_h() const { return config.image_height / config.patch_size; }
    int grid_w() const { return config.image_width / config.patch_size; }
    int patches() const { return grid_h() * grid_w(); }
    int tokens() const { return patches() + (class_token ? 1 : 0); }
    // Values per token: C*P*P, or 5*C*P*P with shifted patch tokens.
    int64_t patch_values() const;
    int classes() const { return static_cast<int>(config.labels.size()); }
};

// Throws Error naming the field when a size is missing or inconsistent.
void check_architecture(const ViTArchitecture& arch);

// An architecture from a config.json in the fields vitc's loader reads (hidden_size,
// num_hidden_layers, ..., pooling, position_embedding_type, id2label), plus "class_token"
// (default: true unless pooling is mean). layer_norm_eps defaults to 1e-6.
ViTArchitecture read_architecture(const std::string& config_file);

// The tensors in timm's names and shapes (what vitc's loader reads back):
//   patch_embed.proj.{weight [D, C, P, P], bias [D]}, cls_token [1, 1, D], pos_embed [1, T, D]
//   (shifted patch tokens: proj.weight [D, 5C, P, P] and patch_embed.input_norm.{weight, bias}
//   [5*C*P*P], the LayerNorm before it)
//   (learned positions only), blocks.i.{norm1, attn.qkv, attn.proj, norm2, mlp.fc1, mlp.fc2}.*,
//   (locality self-attention: blocks.i.attn.log_temperature [H], initialised to log(1/sqrt(Dh)))
//   norm.{weight, bias}, head.{weight [K, D], bias [K]}.
ParameterLayout vit_parameter_layout(const ViTArchitecture& arch);

struct ViTBlockParameters {
    float *ln1_w, *ln1_b;    // [D]
    float *qkv_w, *qkv_b;    // [3D, D], [3D]
    float *proj_w, *proj_b;  // [D, D], [D]
    float *ln2_w, *ln2_b;    // [D]
    float *fc1_w, *fc1_b;    // [M, D], [M]
    float *fc2_w, *fc2_b;    // [D, M], [D]
    float* log_temperature = nullptr;  // [H], locality self-attention only
};

// Named views into a parameter (or gradient) buffer laid out by vit_parameter_layout().
struct ViTParameters {
    float *patch_w, *patch_b;  // [D, V], [D]; V = patch_values()
    float *patch_norm_w = nullptr, *patch_norm_b = nullptr;  // [V], shifted patch tokens only
    float* cls = nullptr;      // [D], or null without a class token
    float* pos = nullptr;      // [T, D] learned, or null for fixed sine-cosine positions
    std::vector<ViTBlockParameters> blocks;
    float *norm_w, *norm_b;    // [D]
    float *head_w, *head_b;    // [K, D], [K]
};
ViTParameters vit_parameter_views(const ViTArchitecture& arch, const ParameterLayout& layout, float* buffer);

// Fresh weights, timm's recipe: matrices, positions and the class token ~ N(0, 0.02) truncated
// at 2 sigma; biases 0; LayerNorm weights 1.
void init_vit_parameters(const ViTArchitecture& arch, const ParameterLayout& layout, float* buffer, uint64_t seed);

struct ViTBlockActivations {
    std::vector<float> ln1, ln1_mean, ln1_var;  // [N*T, D], [N*T], [N*T]
    std::vector<float> qkv;                     // [N*T, 3D] (locality: the queries scaled)
    std::vector<float> probs;                   // [N, H, T, T] softmax(Q K^T / sqrt(Dh)) (full attention)
    std::vector<float> lse;                     // [N, H, T] log-sum-exp per query row (tiled attention)
    std::vector<float> context;                 // [N*T, D]
    std::vector<float> mid;                     // [N*T, D] residual after attention (LN2's input)
    std::vector<float> ln2, ln2_mean, ln2_var;  // [N*T, D], [N*T], [N*T]
    std::vector<float> fc1;                     // [N*T, M] before GELU (GELU backward reads it)
    std::vector<float> gelu;                    // [N*T, M]
    std::vector<float> out;                     // [N*T, D] the block's output
    // bf16 precision only: the matmul inputs in bf16, kept for the weight gradients.
    std::vector<runtime::bfloat16> ln1_bf16, context_bf16, ln2_bf16;  // [N*T, D]
    std::vector<runtime::bfloat16> gelu_bf16;                          // [N*T, M]
    std::vector<runtime::bfloat16> probs_bf16;                         // [N, H, T, T] (full attention)
};

struct ViTActivations {
    std::vector<float> patches;       // [N*Np, V] the token vectors (V = patch_values())
    std::vector<float> patches_normed, patch_mean, patch_var;  // [N*Np, V], [N*Np], [N*Np] (shifted only)
    std::vector<float> patch_tokens;  // [N*Np, D]
    std::vector<float> tokens;        // [N*T, D] the first block's input
    std::vector<ViTBlockActivations> blocks;
    std::vector<float> norm, norm_mean, norm_var;  // [N*T, D], [N*T], [N*T]
    std::vector<float> pooled;        // [N, D]
    std::vector<float> logits;        // [N, K]
    std::vector<runtime::bfloat16> patches_bf16, pooled_bf16;  // bf16 precision only
};

// Primitives and activations for batches of exactly `batch` images. precision BF16: every Linear
// (patch embedding, qkv, proj, fc1, fc2, head) and, with full attention, the attention's batched
// matmuls multiply bf16 operands with f32 accumulation; forward converts the weight matrices
// once per call; LayerNorm, softmax, GELU, the residual stream, the parameters and their
// gradients stay f32. (Tiled attention stays f32.)
class ViTTrainSession {
public:
    ViTTrainSession(const ViTArchitecture& arch, int batch, TrainAttention attention = TrainAttention::Auto,
                    Precision precision = Precision::F32);

    int batch() const { return N; }
    // images [N, C, H, W] (normalised) -> logits [N, K] (returned; valid until the next call)
    const float* forward(const ViTParameters& p, const float* images);
    // dlogits [N, K] -> every gradient in g (written, not accumulated), for the last forward().
    void backward(const ViTParameters& p, const ViTParameters& g, const float* dlogits);

    const ViTActivations& activations() const { return acts_; }
    // oneDNN's kernel names for every primitive (a "ref" one is a slow fallback).
    std::vector<std::string> implementations() const;

private:
    runtime::AttentionShape attention_shape() const { return {N, H, T, D / H, arch_.config.locality_attention}; }
    // Locality self-attention: qkv's queries *= exp(t_h) sqrt(Dh) per head (forward); from the
    // gradient of the scaled queries, d t_h and the gradient of the unscaled ones (backward).
    void scale_queries(const float* log_temperature, float* qkv) const;
    void temperature_backward(const float* log_temperature, const float* qkv, float* dqkv,
                              float* dlog_temperature) const;
    // One Linear in the session's precision: y (+)= x W^T + b. bf16: Wb receives bf16(W) and xb
    // bf16(x); backward reads those two instead of x and W.
    void linear_forward(runtime::LinearTrain& layer, const float* x, std::vector<runtime::bfloat16>& xb,
                        const float* W, std::vector<runtime::bfloat16>& Wb, const float* b, float* y);
    void linear_backward(runtime::LinearTrain& layer, const float* dy, const float* x,
                         const std::vector<runtime::bfloat16>& xb, const float* W,
                         const std::vector<runtime::bfloat16>& Wb, float* dx, float* dW, float* db);

    ViTArchitecture arch_;
    int64_t N, C, P, Np, T, D, H, M, K;
    std::vector<float> fixed_position_;  // [T, D] sine-cosine positions (class-token row 0)
    dnnl::stream stream_;
    runtime::LinearTrain patch_, qkv_, proj_, fc1_, fc2_, head_;
    runtime::LayerNormTrain norm_;
    runtime::LayerNormTrain patch_norm_;  // shifted patch tokens only
    std::vector<float> shifted_;          // one image's stack of shifted copies (shifted only)
    runtime::GeluTrain gelu_;
    bool tiled_ = false;
    runtime::AttentionTrain attention_;  // full attention only
    ViTActivations acts_;
    // bf16 precision: this step's weight matrices in bf16 (forward converts, backward reads).
    struct BlockWeightsBF16 {
        std::vector<runtime::bfloat16> qkv, proj, fc1, fc2;
    };
    bool bf16_ = false;
    std::vector<BlockWeightsBF16> block_weights_bf16_;
    std::vector<runtime::bfloat16> patch_w_bf16_, head_w_bf16_;
    // Gradient scratch, reused by every block (backward runs one block at a time).
    std::vector<float> dresidual_, dnormed_, dln_in_, dcontext_, dqkv_, dprobs_, dscores_, dgelu_, dfc1_,
        dpooled_, dpatch_tokens_, dpatches_normed_, dpatches_;
};

}  // namespace vitc::train
