#include "runtime/tiled_attention.hpp"

#include <dnnl.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "errors.hpp"
#include "runtime/threads.hpp"

namespace vitc::runtime {

namespace {

// ---- element conversions -------------------------------------------------------------------

inline float widen(bfloat16 x) {
    const uint32_t bits = static_cast<uint32_t>(x.bits) << 16;
    float f;
    std::memcpy(&f, &bits, sizeof f);
    return f;
}
inline void narrow(float x, float* to) { *to = x; }
inline void narrow(float x, bfloat16* to) {  // round to nearest even, as oneDNN's reorders do
    uint32_t bits;
    std::memcpy(&bits, &x, sizeof bits);
    if (x != x) {
        to->bits = 0x7fc0;
        return;
    }
    bits += 0x7fff + ((bits >> 16) & 1);
    to->bits = static_cast<uint16_t>(bits >> 16);
}

// A block of `rows` token rows of one head as f32 for sgemm: f32 input is used in place; bf16
// is widened into `buffer` ([rows, Dh], dense).
struct Rows {
    const float* data;
    int64_t stride;
};
inline Rows rows_as_f32(const float* first, int64_t token_stride, int64_t, int64_t, float*) { return {first, token_stride}; }
inline Rows rows_as_f32(const bfloat16* first, int64_t token_stride, int64_t rows, int64_t Dh, float* buffer) {
    for (int64_t r = 0; r < rows; ++r)
        for (int64_t d = 0; d < Dh; ++d) buffer[r * Dh + d] = widen(first[r * token_stride + d]);
    return {buffer, Dh};
}

// ---- vectorised block operations -------------------------------------------------------------

// exp(x) in a form compilers vectorise (no libm call): x = n ln2 + r with |r| <= ln2/2, exp(r)
// by Cephes' expf polynomial (about 1 ulp), 2^n built in the exponent bits. x is clamped to
// [-87, 88] (exp(-87) ~ 1.6e-38 stands in for 0); NaN stays NaN.
__attribute__((always_inline)) inline float exp_approx(float x) {
    x = x < -87.0f ? -87.0f : x;
    x = x > 88.0f ? 88.0f : x;
    // Adding 1.5 * 2^23 rounds x / ln2 to an integer n held in the low mantissa bits.
    const float shifted = x * 1.44269504088896341f + 12582912.0f;
    const float n = shifted - 12582912.0f;
    int32_t n_bits;
    std::memcpy(&n_bits, &shifted, sizeof n_bits);
    const float r = x - n * 0.693359375f + n * 2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    const int32_t exponent_bits = ((n_bits - 0x4B400000) + 127) << 23;  // 2^n
    float two_n;
    std::memcpy(&two_n, &exponent_bits, sizeof two_n);
    return p * two_n;
}

// Row sums are kept in kLanes partial sums (one AVX-512 register), added pairwise at the end:
// the rounding is then the same whether or not a build vectorises (sanitizer builds do not), and
// smaller than one running sum's.
constexpr int kLanes = 16;
__attribute__((always_inline)) inline float sum_lanes(float* lanes) {
    for (int width = kLanes / 2; width > 0; width /= 2)
        for (int k = 0; k < width; ++k) lanes[k] += lanes[k + width];
    return lanes[0];
}

// The loops below are compiled for AVX-512, AVX2 and the baseline, picked at load time: the
// build targets generic x86-64 (as runtime/quantize.cpp).
#define VITC_VECTORISED __attribute__((target_clones("avx512f", "avx2", "default")))

// Online softmax over one key block. s [rows, cols] (row stride ld) holds scores; on return it
// holds exp(s - m_new) per row. m, l: running maximum and sum per row, updated; correction[r] =
// exp(m_old - m_new), the factor the output accumulator must be rescaled by.
VITC_VECTORISED
void online_softmax_block(float* s, int64_t rows, int64_t cols, int64_t ld, float* m, float* l, float* correction) {
    for (int64_t r = 0; r < rows; ++r) {
        float* row = s + r * ld;
        float block_max = -std::numeric_limits<float>::infinity();
#pragma omp simd reduction(max : block_max)
        for (int64_t j = 0; j < cols; ++j) block_max = row[j] > block_max ? row[j] : block_max;
        const float m_new = std::max(m[r], block_max);
        if (m_new == -std::numeric_limits<float>::infinity()) {  // every key so far masked
            std::fill(row, row + cols, 0.0f);
            correction[r] = 1.0f;
            continue;
        }
        // Summed in kLanes partial sums, vectorised or not: the same rounding in every build.
        float lanes[kLanes] = {};
        int64_t j = 0;
        for (; j + kLanes <= cols; j += kLanes) {
#pragma omp simd
            for (int k = 0; k < kLanes; ++k) {
                row[j + k] = exp_approx(row[j + k] - m_new);
                lanes[k] += row[j + k];
            }
        }
        for (int k = 0; j < cols; ++j, ++k) {
            row[j] = exp_approx(row[j] - m_new);
            lanes[k] += row[j];
        }
        const float sum = sum_lanes(lanes);
        correction[r] = exp_approx(m[r] - m_new);
        l[r] = l[r] * correction[r] + sum;
        m[r] = m_new;
    }
}

// acc[r, :] *= factor[r]; acc [rows, Dh] dense.
VITC_VECTORISED
void scale_rows(float* acc, int64_t rows, int64_t Dh, const float* factor) {
    for (int64_t r = 0; r < rows; ++r) {
        const float f = factor[r];
#pragma omp simd
        for (int64_t d = 0; d < Dh; ++d) acc[r * Dh + d] *= f;
    }
}

// P = exp(s - lse[r]) in place: the probabilities the forward had, recomputed.
VITC_VECTORISED
void probabilities_from_lse(float* s, int64_t rows, int64_t cols, int64_t ld, const float* lse) {
    for (int64_t r = 0; r < rows; ++r) {
        float* row = s + r * ld;
        const float L = lse[r];
#pragma omp simd
        for (int64_t j = 0; j < cols; ++j) row[j] = exp_approx(row[j] - L);
    }
}

// dS = P * (dP - Di[r]), written over dP: the softmax's backward.
VITC_VECTORISED
void softmax_backward_block(const float* p, float* dp, int64_t rows, int64_t cols, int64_t ld, const float* Di) {
    for (int64_t r = 0; r < rows; ++r) {
        const float di = Di[r];
#pragma omp simd
        for (int64_t j = 0; j < cols; ++j) dp[r * ld + j] = p[r * ld + j] * (dp[r * ld + j] - di);
    }
}

VITC_VECTORISED
float dot(const float* a, const float* b, int64_t n) {
    float lanes[kLanes] = {};
    int64_t i = 0;
    for (; i + kLanes <= n; i += kLanes) {
#pragma omp simd
        for (int k = 0; k < kLanes; ++k) lanes[k] += a[i + k] * b[i + k];
    }
    for (int k = 0; i < n; ++i, ++k) lanes[k] += a[i] * b[i];
    return sum_lanes(lanes);
}

// ---- the kernels -----------------------------------------------------------------------------

// C = alpha op(A) op(B) + beta C, row-major, on the calling thread (oneDNN runs its gemm
// single-threaded inside a parallel region). A failure is recorded, not thrown: this runs inside
// the OpenMP region.
void gemm(char transa, char transb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
          const float* B, int64_t ldb, float beta, float* C, int64_t ldc, std::atomic<int>& failures) {
    if (dnnl_sgemm(transa, transb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc) != dnnl_success) ++failures;
}

void check_shape(const AttentionShape& s) {
    if (s.images < 1 || s.heads < 1 || s.tokens < 1 || s.head_dim < 1)
        throw Error("tiled attention: every dimension must be at least 1 (images " + std::to_string(s.images) +
                    ", heads " + std::to_string(s.heads) + ", tokens " + std::to_string(s.tokens) + ", head_dim " +
                    std::to_string(s.head_dim) + ")");
}

int64_t blocks_of(int64_t count, int64_t block) { return (count + block - 1) / block; }

// Sets the entries of a [rows, cols] block (row stride ld; query rows from q0, key columns from
// k0) where query == key to `value`: -inf on the scores before the softmax, 0 on the
// probabilities after it (exp_approx gives 1.6e-38 for -inf, not 0).
void set_self_entries(float* s, int64_t rows, int64_t cols, int64_t ld, int64_t q0, int64_t k0, float value) {
    for (int64_t r = 0; r < rows; ++r) {
        const int64_t j = q0 + r - k0;
        if (j >= 0 && j < cols) s[r * ld + j] = value;
    }
}

void check_exclude_self(const AttentionShape& s) {
    if (s.exclude_self && s.tokens < 2)
        throw Error("locality self-attention needs at least 2 tokens (a token may not attend to itself)");
}

// Per-thread scratch of the forward, in floats: scores [bq, bk], accumulator [bq, Dh], m, l,
// correction [bq], and for bf16 the widened Q [bq, Dh], K and V [bk, Dh] blocks.
int64_t forward_scratch_floats(const AttentionShape& s, const AttentionBlocks& b) {
    return b.queries * b.keys + b.queries * s.head_dim + 3 * b.queries + b.queries * s.head_dim +
           2 * b.keys * s.head_dim;
}

template <typename E>
void forward(const AttentionShape& shape, HeadsView<const E> q, HeadsView<const E> k, HeadsView<const E> v,
             HeadsView<E> out, float* lse, AttentionBlocks requested) {
    check_shape(shape);
    check_exclude_self(shape);
    const AttentionBlocks b = resolve_blocks(shape, requested);
    const int64_t T = shape.tokens, Dh = shape.head_dim, bq = b.queries, bk = b.keys;
    const int64_t query_blocks = blocks_of(T, bq);
    const float scale = 1.0f / std::sqrt(static_cast<float>(Dh));
    const int64_t tasks = shape.images * shape.heads * query_blocks;
    const int threads = static_cast<int>(std::min<int64_t>(tasks, max_threads()));
    std::vector<std::vector<float>> scratch(static_cast<size_t>(threads),
                                            std::vector<float>(static_cast<size_t>(forward_scratch_floats(shape, b))));
    std::atomic<int> failures{0};

    parallel_tasks(tasks, [&](int thread, int64_t task) {
        const int64_t nh = task / query_blocks, n = nh / shape.heads, h = nh % shape.heads;
        const int64_t q0 = (task % query_blocks) * bq, rows = std::min(bq, T - q0);
        float* s = scratch[thread].data();  // [bq, bk]
        float* acc = s + bq * bk;           // [bq, Dh]
        float* m = acc + bq * Dh;
        float* l = m + bq;
        float* correction = l + bq;
        float* wide_q = correction + bq;  // bf16 only: [bq, Dh], [bk, Dh], [bk, Dh]
        float* wide_k = wide_q + bq * Dh;
        float* wide_v = wide_k + bk * Dh;

        std::fill(acc, acc + rows * Dh, 0.0f);
        std::fill(m, m + rows, -std::numeric_limits<float>::infinity());
        std::fill(l, l + rows, 0.0f);
        const Rows Q = rows_as_f32(q.at(n, h, q0), q.token_stride, rows, Dh, wide_q);
        for (int64_t k0 = 0; k0 < T; k0 += bk) {
            const int64_t cols = std::min(bk, T - k0);
            const Rows K = rows_as_f32(k.at(n, h, k0), k.token_stride, cols, Dh, wide_k);
            const Rows V = rows_as_f32(v.at(n, h, k0), v.token_stride, cols, Dh, wide_v);
            gemm('N', 'T', rows, cols, Dh, scale, Q.data, Q.stride, K.data, K.stride, 0.0f, s, bk, failures);  // S = Q K^T
            if (shape.exclude_self) set_self_entries(s, rows, cols, bk, q0, k0, -std::numeric_limits<float>::infinity());
            online_softmax_block(s, rows, cols, bk, m, l, correction);
            if (shape.exclude_self) set_self_entries(s, rows, cols, bk, q0, k0, 0.0f);
            if (k0 > 0) scale_rows(acc, rows, Dh, correction);
            gemm('N', 'N', rows, Dh, cols, 1.0f, s, bk, V.data, V.stride, 1.0f, acc, Dh, failures);  // acc += P V
        }
        for (int64_t r = 0; r < rows; ++r) {
            E* o = out.at(n, h, q0 + r);
            const float inverse = 1.0f / l[r];
            for (int64_t d = 0; d < Dh; ++d) narrow(acc[r * Dh + d] * inverse, o + d);
            if (lse) lse[nh * T + q0 + r] = m[r] + std::log(l[r]);
        }
    });
    if (failures) throw Error("tiled attention: oneDNN sgemm failed " + std::to_string(failures.load()) + " times");
}

// Zeroes one head's [T, Dh] rows of a strided view.
void zero_head(HeadsView<float> x, int64_t n, int64_t h, int64_t T, int64_t Dh) {
    for (int64_t t = 0; t < T; ++t) std::fill(x.at(n, h, t), x.at(n, h, t) + Dh, 0.0f);
}

}  // namespace

AttentionBlocks resolve_blocks(const AttentionShape& shape, AttentionBlocks requested) {
    AttentionBlocks b = requested;
    // As PyTorch's kernel: more query rows per block as sequences grow, 512 keys.
    if (b.queries <= 0) b.queries = shape.tokens >= 768 ? 256 : shape.tokens >= 192 ? 64 : 32;
    if (b.keys <= 0) b.keys = 512;
    b.queries = std::min(b.queries, shape.tokens);
    b.keys = std::min(b.keys, shape.tokens);
    return b;
}

int64_t tiled_attention_scratch_bytes(const AttentionShape& shape, int threads, AttentionBlocks blocks) {
    return threads * forward_scratch_floats(shape, resolve_blocks(shape, blocks)) * static_cast<int64_t>(sizeof(float));
}

void tiled_attention_forward(const AttentionShape& shape, HeadsView<const float> q, HeadsView<const float> k,
                             HeadsView<const float> v, HeadsView<float> out, float* lse, AttentionBlocks blocks) {
    forward<float>(shape, q, k, v, out, lse, blocks);
}

void tiled_attention_forward(const AttentionShape& shape, HeadsView<const bfloat16> q, HeadsView<const bfloat16> k,
                             HeadsView<const bfloat16> v, HeadsView<bfloat16> out, float* lse, AttentionBlocks blocks) {
    forward<bfloat16>(shape, q, k, v, out, lse, blocks);
}

void tiled_attention_backward(const AttentionShape& shape, HeadsView<const float> q, HeadsView<const float> k,
                              HeadsView<const float> v, HeadsView<const float> out, const float* lse,
                              HeadsView<const float> dout, HeadsView<float> dq, HeadsView<float> dk,
                              HeadsView<float> dv, AttentionBlocks requested) {
    check_shape(shape);
    check_exclude_self(shape);
    const AttentionBlocks b = resolve_blocks(shape, requested);
    const int64_t T = shape.tokens, Dh = shape.head_dim, bq = b.queries, bk = b.keys;
    const float scale = 1.0f / std::sqrt(static_cast<float>(Dh));
    const int64_t tasks = shape.images * shape.heads;
    const int threads = static_cast<int>(std::min<int64_t>(tasks, max_threads()));
    // Per thread: P [bq, bk], dP then dS [bq, bk], Di [bq].
    std::vector<std::vector<float>> scratch(static_cast<size_t>(threads),
                                            std::vector<float>(static_cast<size_t>(2 * bq * bk + bq)));
    std::atomic<int> failures{0};

    // One task per (image, head): it owns that head's dQ, dK and dV, so no two threads add into
    // the same rows (as PyTorch's backward).
    parallel_tasks(tasks, [&](int thread, int64_t nh) {
        const int64_t n = nh / shape.heads, h = nh % shape.heads;
        float* p = scratch[thread].data();
        float* ds = p + bq * bk;
        float* Di = ds + bq * bk;
        zero_head(dq, n, h, T, Dh);
        zero_head(dk, n, h, T, Dh);
        zero_head(dv, n, h, T, Dh);
        for (int64_t q0 = 0; q0 < T; q0 += bq) {
            const int64_t rows = std::min(bq, T - q0);
            const float* Q = q.at(n, h, q0);
            const float* dO = dout.at(n, h, q0);
            for (int64_t r = 0; r < rows; ++r) Di[r] = dot(dO + r * dout.token_stride, out.at(n, h, q0 + r), Dh);
            const float* L = lse + nh * T + q0;
            for (int64_t k0 = 0; k0 < T; k0 += bk) {
                const int64_t cols = std::min(bk, T - k0);
                const float* K = k.at(n, h, k0);
                const float* V = v.at(n, h, k0);
                gemm('N', 'T', rows, cols, Dh, scale, Q, q.token_stride, K, k.token_stride, 0.0f, p, bk, failures);
                probabilities_from_lse(p, rows, cols, bk, L);
                if (shape.exclude_self) set_self_entries(p, rows, cols, bk, q0, k0, 0.0f);  // then dS_ii = 0
                // dV += P^T dO
                gemm('T', 'N', cols, Dh, rows, 1.0f, p, bk, dO, dout.token_stride, 1.0f, dv.at(n, h, k0), dv.token_stride,
                     failures);
                // dP = dO V^T, then dS = P (dP - Di)
                gemm('N', 'T', rows, cols, Dh, 1.0f, dO, dout.token_stride, V, v.token_stride, 0.0f, ds, bk, failures);
                softmax_backward_block(p, ds, rows, cols, bk, Di);
                // dQ += dS K scale;  dK += dS^T Q scale
                gemm('N', 'N', rows, Dh, cols, scale, ds, bk, K, k.token_stride, 1.0f, dq.at(n, h, q0), dq.token_stride,
                     failures);
                gemm('T', 'N', cols, Dh, rows, scale, ds, bk, Q, q.token_stride, 1.0f, dk.at(n, h, k0), dk.token_stride,
                     failures);
            }
        }
    });
    if (failures) throw Error("tiled attention backward: oneDNN sgemm failed " + std::to_string(failures.load()) + " times");
}

namespace {

// Head views of the packed buffers: qkv [N*T, 3D] (Q, K, V at column offsets 0, D, 2D) and
// context [N*T, D].
template <typename E>
HeadsView<E> packed(E* base, const AttentionShape& s, int64_t row_width) {
    return {base, s.tokens * row_width, s.head_dim, row_width};
}

}  // namespace

void tiled_attention_forward_packed(const AttentionShape& s, const float* qkv, float* context, float* lse,
                                    AttentionBlocks blocks) {
    const int64_t D = s.heads * s.head_dim;
    tiled_attention_forward(s, packed(qkv, s, 3 * D), packed(qkv + D, s, 3 * D), packed(qkv + 2 * D, s, 3 * D),
                            packed(context, s, D), lse, blocks);
}

void tiled_attention_backward_packed(const AttentionShape& s, const float* qkv, const float* context, const float* lse,
                                     const float* dcontext, float* dqkv, AttentionBlocks blocks) {
    const int64_t D = s.heads * s.head_dim;
    tiled_attention_backward(s, packed(qkv, s, 3 * D), packed(qkv + D, s, 3 * D), packed(qkv + 2 * D, s, 3 * D),
                             packed(context, s, D), lse, packed(dcontext, s, D), packed(dqkv, s, 3 * D),
                             packed(dqkv + D, s, 3 * D), packed(dqkv + 2 * D, s, 3 * D), blocks);
}

}  // namespace vitc::runtime
