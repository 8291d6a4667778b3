#pragma once
// Attention in memory that grows with T, not T^2 (FlashAttention, Dao et al. 2022, the way
// PyTorch's CPU kernel aten/src/ATen/native/cpu/FlashAttentionKernel.cpp does it):
//
//   O = softmax(Q K^T * scale) V        per image and head; Q, K, V, O [T, Dh], scale 1/sqrt(Dh)
//                                       (with exclude_self, the diagonal of Q K^T masked)
//
// computed a block of queries against a block of keys at a time. Per query row the kernel keeps
// the running maximum m and sum l of exp(s - m); when a new key block raises the maximum, the
// sum and the output accumulator are rescaled by exp(m_old - m_new). The log-sum-exp
// L = m + log(l) is saved per row, so the backward recomputes P = exp(S - L) block by block
// instead of storing it:
//
//   Di = rowsum(dO * O);  dV += P^T dO;  dP = dO V^T;  dS = P * (dP - Di)
//   dQ += dS K * scale;   dK += dS^T Q * scale
//
// Memory per thread: O(block_q * block_k + block_q * Dh) floats; nothing T x T. The matmuls
// over blocks are oneDNN's sgemm (single-threaded inside our thread team); exp and the
// rescaling are our own vectorised loops.
#include <cstdint>

#include "runtime/bfloat16.hpp"

namespace vitc::runtime {

// Where image n, head h keeps token t: Dh contiguous values at
//   data + n * image_stride + h * head_stride + t * token_stride.
// The ViT's packed projection qkv [N*T, 3D] holds Q with image_stride T*3D, token_stride 3D,
// head_stride Dh (K starts at +D, V at +2D); a plain [N, H, T, Dh] tensor has H*T*Dh, T*Dh, Dh.
template <typename Element>
struct HeadsView {
    Element* data = nullptr;
    int64_t image_stride = 0, head_stride = 0, token_stride = 0;

    Element* at(int64_t n, int64_t h, int64_t t) const { return data + n * image_stride + h * head_stride + t * token_stride; }
    operator HeadsView<const Element>() const { return {data, image_stride, head_stride, token_stride}; }
};

struct AttentionShape {
    int64_t images = 1, heads = 1, tokens = 1, head_dim = 1;  // N, H, T, Dh
    // Locality self-attention: no token attends to itself (S_ii = -inf before the softmax, so
    // P_ii = 0). Needs at least 2 tokens.
    bool exclude_self = false;
};

// Rows of queries and keys per block; 0 picks by token count (64..256 queries, 512 keys).
struct AttentionBlocks {
    int64_t queries = 0, keys = 0;
};
AttentionBlocks resolve_blocks(const AttentionShape& shape, AttentionBlocks requested = {});

// Scratch memory of the forward for `threads` threads, in bytes (what the kernel adds to the
// activations; the LSE, N*H*T floats, is the caller's).
int64_t tiled_attention_scratch_bytes(const AttentionShape& shape, int threads, AttentionBlocks blocks = {});

// out = softmax(q k^T / sqrt(Dh)) v. lse [N, H, T] (optional, nullptr to skip) receives
// m + log(l) per query row, what the backward needs. bf16 inputs are widened to f32 block by
// block; every sum, maximum and the output accumulator are f32.
void tiled_attention_forward(const AttentionShape& shape, HeadsView<const float> q, HeadsView<const float> k,
                             HeadsView<const float> v, HeadsView<float> out, float* lse, AttentionBlocks blocks = {});
void tiled_attention_forward(const AttentionShape& shape, HeadsView<const bfloat16> q, HeadsView<const bfloat16> k,
                             HeadsView<const bfloat16> v, HeadsView<bfloat16> out, float* lse,
                             AttentionBlocks blocks = {});

// Gradients of the forward above, from its inputs, its output `out`, its `lse` and the
// gradient dout of the output. dq, dk, dv are overwritten. Work is split over (image, head).
void tiled_attention_backward(const AttentionShape& shape, HeadsView<const float> q, HeadsView<const float> k,
                              HeadsView<const float> v, HeadsView<const float> out, const float* lse,
                              HeadsView<const float> dout, HeadsView<float> dq, HeadsView<float> dk,
                              HeadsView<float> dv, AttentionBlocks blocks = {});

// The same on the ViT's packed buffers: qkv [N*T, 3D] (Q | K | V per row, head h at columns
// h*Dh of each), context and dcontext [N*T, D] (heads side by side), dqkv [N*T, 3D], lse [N, H, T].
void tiled_attention_forward_packed(const AttentionShape& shape, const float* qkv, float* context, float* lse,
                                    AttentionBlocks blocks = {});
void tiled_attention_backward_packed(const AttentionShape& shape, const float* qkv, const float* context,
                                     const float* lse, const float* dcontext, float* dqkv, AttentionBlocks blocks = {});

}  // namespace vitc::runtime
