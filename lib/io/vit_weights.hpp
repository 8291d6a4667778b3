#pragma once
// All parameters of a Vision Transformer, named as in the paper, in PyTorch's layouts:
// Linear weights are [out, in]. D = hidden size, M = MLP size, C = channels, P = patch size,
// T = tokens (patches + class token), K = classes.
#include <vector>

#include "tensor.hpp"

namespace vitc {

struct ViTBlockWeights {
    Tensor ln1_weight, ln1_bias;    // [D]       LayerNorm before attention
    Tensor qkv_weight, qkv_bias;    // [3D, D]   rows: query, key, value
    Tensor proj_weight, proj_bias;  // [D, D]    attention output projection
    Tensor ln2_weight, ln2_bias;    // [D]       LayerNorm before the MLP
    Tensor fc1_weight, fc1_bias;    // [M, D]
    Tensor fc2_weight, fc2_bias;    // [D, M]
    // Locality self-attention only (config.locality_attention): the log of each head's score
    // scale, [H], within +-kMaxLogTemperature; empty otherwise.
    Tensor log_temperature;
};

// exp(t) scales the scores: |t| <= 30 keeps that scale within 1e-13..1e13, so a crafted (or a
// diverged) t cannot overflow the scores to inf and the logits to NaN.
constexpr float kMaxLogTemperature = 30.0f;

struct ViTWeights {
    Tensor patch_weight, patch_bias;  // [D, C, P, P], [D]   patch embedding (a strided conv)
    // Shifted patch tokens only (config.shifted_patches): patch_weight is [D, 5C, P, P] and the
    // LayerNorm on each token's 5*C*P*P values before it has these; empty otherwise.
    Tensor patch_norm_weight, patch_norm_bias;
    Tensor class_token;               // [D]; empty when the model has none
    Tensor position_embedding;        // [T, D] learned; empty for the fixed sine-cosine kind
    std::vector<ViTBlockWeights> blocks;
    Tensor norm_weight, norm_bias;    // [D]   final LayerNorm
    Tensor head_weight, head_bias;    // [K, D]
};

}  // namespace vitc
