#pragma once
// Multi-head self-attention for training, on oneDNN, reading Q, K and V in place from the
// packed projection qkv [N*T, 3D] (per row: the D query values, then key, then value; head h is
// columns h*Dh .. h*Dh+Dh-1 of each):
//   S = Q K^T / sqrt(Dh)      [N, H, T, T]  (exclude_self: S_ii = -inf, runtime/self_mask.hpp)
//   P = softmax(S)            saved for backward (softmax_v2 backward takes its dst)
//   context = P V             written as [N*T, D], heads side by side
// Backward, as batched matmuls on transposed ("ba"-strided) views:
//   dP = dcontext V^T,  dV = P^T dcontext,  dS = softmax_backward(dP, P),
//   dQ = dS K / sqrt(Dh),  dK = dS^T Q / sqrt(Dh)       all written into dqkv [N*T, 3D].
// The matmuls read Q, K, V (and dcontext) from a head-major copy [3, N, H, T, Dh] made by one
// reorder: on the packed rows (stride 3D) oneDNN 2.6 picks gemm:jit, on plain heads brgemm,
// 2 to 3 times faster (measured at N=128, H=4, T=50, Dh=16). Backward redoes the copy rather
// than keeping it per block. dQ, dK, dV go to a head-major buffer too (a strided destination
// also gets gemm:jit), and one reorder packs them into dqkv.
//
// bf16 (Precision::BF16): the six matmuls read bf16 operands and write f32. The head-major copy
// is made in bf16 by the same reorder; P is converted after the f32 softmax (the caller keeps
// that copy for dV), dcontext on its way to heads and dS before dQ and dK. Softmax and its
// backward, the saved P and every gradient stay f32.
#include <string>
#include <vector>

#include "runtime/dnnl_helpers.hpp"
#include "runtime/precision.hpp"

namespace vitc::runtime {

class AttentionTrain {
public:
    AttentionTrain() = default;
    AttentionTrain(int64_t images, int64_t tokens, int64_t heads, int64_t head_dim,
                   Precision precision = Precision::F32, bool exclude_self = false);

    // qkv [N*T, 3D] -> probabilities [N, H, T, T], context [N*T, D]. bf16: probabilities_bf16
    // [N, H, T, T] receives bf16(probabilities), which backward reads; null in f32.
    void forward(dnnl::stream& stream, const float* qkv, float* probabilities, float* context,
                 bfloat16* probabilities_bf16 = nullptr);
    // dcontext [N*T, D] -> dqkv [N*T, 3D] (written); scratch: two [N, H, T, T] buffers.
    void backward(dnnl::stream& stream, const float* qkv, const float* probabilities, const float* dcontext,
                  float* dqkv, float* dprobabilities, float* dscores, const bfloat16* probabilities_bf16 = nullptr);

    std::vector<std::string> implementations() const;

private:
    int64_t D_ = 0, head_values_ = 0;  // D, and N*H*T*Dh
    int64_t matrices_ = 0, tokens_ = 0;  // N*H score matrices of T x T
    bool bf16_ = false, exclude_self_ = false;
    dnnl::reorder to_heads_, dcontext_to_heads_, from_heads_;
    // [3, N, H, T, Dh] (bf16: 2-byte values), [3, N, H, T, Dh] f32, [N, H, T, Dh] (bf16: 2-byte)
    std::vector<float> heads_, dheads_, dcontext_heads_;
    ToBF16 probs_to_bf16_, dscores_to_bf16_;  // bf16 only
    std::vector<bfloat16> dscores_bf16_;      // bf16 only: [N, H, T, T]
    dnnl::matmul scores_, context_, dprobs_, dvalues_, dqueries_, dkeys_;
    dnnl::softmax_v2_forward softmax_;
    dnnl::softmax_v2_backward softmax_backward_;
    std::vector<std::string> impls_;
    // Views over the caller's buffers (handles set per call).
    dnnl::memory packed_, heads_m_, dpacked_, dheads_m_, dcontext_m_, dcontext_heads_m_;  // reorder ends
    dnnl::memory q_, kt_, k_, v_, vt_, probs_, probs_t_, ctx_, dprobs_m_, dscores_, dscores_t_, dq_, dk_, dv_;
    dnnl::memory probs_op_, dscores_op_;  // P and dS as matmul operands (bf16: their bf16 copies)
};

}  // namespace vitc::runtime
