#include "runtime/attention_train.hpp"

#include <cmath>

#include "errors.hpp"
#include "runtime/self_mask.hpp"

namespace vitc::runtime {

namespace {

dnnl::matmul::primitive_desc batched_matmul(const dnnl::memory::desc& a, const dnnl::memory::desc& b,
                                            const dnnl::memory::desc& c, float scale = 1.0f) {
    dnnl::primitive_attr attr;
    if (scale != 1.0f) attr.set_output_scales(0, {scale});
    return dnnl::matmul::primitive_desc(dnnl::matmul::desc(a, b, c), attr, cpu_engine());
}

}  // namespace

AttentionTrain::AttentionTrain(int64_t N, int64_t T, int64_t H, int64_t Dh, Precision precision, bool exclude_self)
    : D_(H * Dh), head_values_(N * H * T * Dh), matrices_(N * H), tokens_(T), bf16_(precision == Precision::BF16),
      exclude_self_(exclude_self) {
    if (exclude_self && T < 2)
        throw Error("locality self-attention needs at least 2 tokens (a token may not attend to itself)");
    const int64_t D = D_;
    const auto& engine = cpu_engine();
    const data_type t = bf16_ ? data_type::bf16 : data_type::f32;  // the matmul operands
    const float scale = 1.0f / std::sqrt(static_cast<float>(Dh));
    // The packed projection qkv [N*T, 3D] seen as [3, N, H, T, Dh], and its head-major copy.
    const auto packed = strided_desc({3, N, H, T, Dh}, {D, T * 3 * D, Dh, 3 * D, 1});
    const auto heads = plain_desc({3, N, H, T, Dh}, t), dheads = plain_desc({3, N, H, T, Dh});
    const auto rows = plain_desc({N, H, T, Dh}, t);                                 // Q, K, V, dcontext copies
    const auto cols = strided_desc({N, H, Dh, T}, {H * T * Dh, T * Dh, 1, Dh}, t);  // K^T, V^T of those
    const auto drows = plain_desc({N, H, T, Dh});                                   // dQ, dK, dV
    const auto square = plain_desc({N, H, T, T}), square_op = plain_desc({N, H, T, T}, t);
    const auto square_t = strided_desc({N, H, T, T}, {H * T * T, T * T, 1, T}, t);
    const auto context = strided_desc({N, H, T, Dh}, {T * D, Dh, D, 1});           // of [N*T, D]

    const auto to_heads_pd = dnnl::reorder::primitive_desc(engine, packed, engine, heads);
    const auto dcontext_pd = dnnl::reorder::primitive_desc(engine, context, engine, rows);
    const auto from_heads_pd = dnnl::reorder::primitive_desc(engine, dheads, engine, packed);
    const auto scores_pd = batched_matmul(rows, cols, square, scale);
    const auto context_pd = batched_matmul(square_op, rows, context);
    const auto softmax_pd = dnnl::softmax_v2_forward::primitive_desc(
        dnnl::softmax_v2_forward::desc(dnnl::prop_kind::forward_training, dnnl::algorithm::softmax_accurate, square,
                                       square, 3),
        engine);
    const auto softmax_bwd_pd = dnnl::softmax_v2_backward::primitive_desc(
        dnnl::softmax_v2_backward::desc(dnnl::algorithm::softmax_accurate, square, square, square, 3), engine,
        softmax_pd);
    const auto dprobs_pd = batched_matmul(rows, cols, square);
    const auto dvalues_pd = batched_matmul(square_t, rows, drows);
    const auto dqueries_pd = batched_matmul(square_op, rows, drows, scale);
    const auto dkeys_pd = batched_matmul(square_t, rows, drows, scale);

    to_heads_ = dnnl::reorder(to_heads_pd);
    dcontext_to_heads_ = dnnl::reorder(dcontext_pd);
    from_heads_ = dnnl::reorder(from_heads_pd);
    scores_ = dnnl::matmul(scores_pd);
    context_ = dnnl::matmul(context_pd);
    softmax_ = dnnl::softmax_v2_forward(softmax_pd);
    softmax_backward_ = dnnl::softmax_v2_backward(softmax_bwd_pd);
    dprobs_ = dnnl::matmul(dprobs_pd);
    dvalues_ = dnnl::matmul(dvalues_pd);
    dqueries_ = dnnl::matmul(dqueries_pd);
    dkeys_ = dnnl::matmul(dkeys_pd);
    for (const auto& [what, pd] : std::initializer_list<std::pair<const char*, const dnnl::primitive_desc_base*>>{
             {"qkv to heads", &to_heads_pd}, {"dcontext to heads", &dcontext_pd}, {"heads to dqkv", &from_heads_pd},
             {"attention scores", &scores_pd}, {"attention context", &context_pd}, {"softmax forward", &softmax_pd},
             {"softmax backward", &softmax_bwd_pd}, {"attention dP", &dprobs_pd}, {"attention dV", &dvalues_pd},
             {"attention dQ", &dqueries_pd}, {"attention dK", &dkeys_pd}})
        impls_.push_back(std::string(what) + ": " + pd->impl_info_str());
    if (bf16_) {
        probs_to_bf16_ = ToBF16({N, H, T, T});
        dscores_to_bf16_ = ToBF16({N, H, T, T});
        dscores_bf16_.resize(N * H * T * T);
        impls_.push_back("attention P " + probs_to_bf16_.implementation());
        impls_.push_back("attention dS " + dscores_to_bf16_.implementation());
    }

    // Operand copies in floats' worth of storage (bf16 values take half).
    const int64_t per_float = bf16_ ? 2 : 1, operand_bytes = bf16_ ? 2 : 4;
    heads_.resize((3 * head_values_ + per_float - 1) / per_float);
    dheads_.resize(3 * head_values_);
    dcontext_heads_.resize((head_values_ + per_float - 1) / per_float);
    packed_ = dnnl::memory(packed, engine, nullptr);
    heads_m_ = dnnl::memory(heads, engine, heads_.data());
    dpacked_ = dnnl::memory(packed, engine, nullptr);
    dheads_m_ = dnnl::memory(dheads, engine, dheads_.data());
    dcontext_m_ = dnnl::memory(context, engine, nullptr);
    dcontext_heads_m_ = dnnl::memory(rows, engine, dcontext_heads_.data());
    char* h = reinterpret_cast<char*>(heads_.data());
    const int64_t head_bytes = head_values_ * operand_bytes;
    q_ = dnnl::memory(rows, engine, h);
    k_ = dnnl::memory(rows, engine, h + head_bytes);
    v_ = dnnl::memory(rows, engine, h + 2 * head_bytes);
    kt_ = dnnl::memory(cols, engine, h + head_bytes);
    vt_ = dnnl::memory(cols, engine, h + 2 * head_bytes);
    for (dnnl::memory* m : {&probs_, &dprobs_m_, &dscores_}) *m = dnnl::memory(square, engine, nullptr);
    probs_op_ = dnnl::memory(square_op, engine, nullptr);
    dscores_op_ = dnnl::memory(square_op, engine, bf16_ ? static_cast<void*>(dscores_bf16_.data()) : nullptr);
    for (dnnl::memory* m : {&probs_t_, &dscores_t_}) *m = dnnl::memory(square_t, engine, nullptr);
    if (bf16_) dscores_t_.set_data_handle(dscores_bf16_.data());
    ctx_ = dnnl::memory(context, engine, nullptr);
    dq_ = dnnl::memory(drows, engine, dheads_.data());
    dk_ = dnnl::memory(drows, engine, dheads_.data() + head_values_);
    dv_ = dnnl::memory(drows, engine, dheads_.data() + 2 * head_values_);
}

void AttentionTrain::forward(dnnl::stream& stream, const float* qkv, float* probabilities, float* context,
                             bfloat16* probabilities_bf16) {
    if (bf16_ != (probabilities_bf16 != nullptr)) throw Error("internal: AttentionTrain's bf16 probabilities");
    packed_.set_data_handle(const_cast<float*>(qkv));
    probs_.set_data_handle(probabilities);
    ctx_.set_data_handle(context);
    to_heads_.execute(stream, packed_, heads_m_);
    scores_.execute(stream, {{DNNL_ARG_SRC, q_}, {DNNL_ARG_WEIGHTS, kt_}, {DNNL_ARG_DST, probs_}});
    if (exclude_self_) {
        stream.wait();
        mask_self_scores(probabilities, matrices_, tokens_);
    }
    softmax_.execute(stream, {{DNNL_ARG_SRC, probs_}, {DNNL_ARG_DST, probs_}});  // in place
    if (exclude_self_) {
        stream.wait();
        zero_self_probabilities(probabilities, matrices_, tokens_);
    }
    if (bf16_) {
        probs_to_bf16_.run(stream, probabilities, probabilities_bf16);
        probs_op_.set_data_handle(probabilities_bf16);
    } else {
        probs_op_.set_data_handle(probabilities);
    }
    context_.execute(stream, {{DNNL_ARG_SRC, probs_op_}, {DNNL_ARG_WEIGHTS, v_}, {DNNL_ARG_DST, ctx_}});
}

void AttentionTrain::backward(dnnl::stream& stream, const float* qkv, const float* probabilities,
                              const float* dcontext, float* dqkv, float* dprobabilities, float* dscores,
                              const bfloat16* probabilities_bf16) {
    if (bf16_ != (probabilities_bf16 != nullptr)) throw Error("internal: AttentionTrain's bf16 probabilities");
    packed_.set_data_handle(const_cast<float*>(qkv));
    dcontext_m_.set_data_handle(const_cast<float*>(dcontext));
    probs_.set_data_handle(const_cast<float*>(probabilities));
    if (bf16_) probs_t_.set_data_handle(const_cast<bfloat16*>(probabilities_bf16));
    else probs_t_.set_data_handle(const_cast<float*>(probabilities));
    dprobs_m_.set_data_handle(dprobabilities);
    dscores_.set_data_handle(dscores);
    if (!bf16_) {
        dscores_op_.set_data_handle(dscores);
        dscores_t_.set_data_handle(dscores);
    }
    dpacked_.set_data_handle(dqkv);
    to_heads_.execute(stream, packed_, heads_m_);
    dcontext_to_heads_.execute(stream, dcontext_m_, dcontext_heads_m_);
    dprobs_.execute(stream, {{DNNL_ARG_SRC, dcontext_heads_m_}, {DNNL_ARG_WEIGHTS, vt_}, {DNNL_ARG_DST, dprobs_m_}});
    dvalues_.execute(stream, {{DNNL_ARG_SRC, probs_t_}, {DNNL_ARG_WEIGHTS, dcontext_heads_m_}, {DNNL_ARG_DST, dv_}});
    softmax_backward_.execute(stream,
                              {{DNNL_ARG_DST, probs_}, {DNNL_ARG_DIFF_DST, dprobs_m_}, {DNNL_ARG_DIFF_SRC, dscores_}});
    if (bf16_) dscores_to_bf16_.run(stream, dscores, dscores_bf16_.data());
    dqueries_.execute(stream, {{DNNL_ARG_SRC, dscores_op_}, {DNNL_ARG_WEIGHTS, k_}, {DNNL_ARG_DST, dq_}});
    dkeys_.execute(stream, {{DNNL_ARG_SRC, dscores_t_}, {DNNL_ARG_WEIGHTS, q_}, {DNNL_ARG_DST, dk_}});
    from_heads_.execute(stream, dheads_m_, dpacked_);
}

std::vector<std::string> AttentionTrain::implementations() const { return impls_; }

}  // namespace vitc::runtime
