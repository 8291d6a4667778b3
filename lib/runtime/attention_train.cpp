#include "runtime/attention_train.hpp"

#include <cmath>

namespace vitc::runtime {

namespace {

dnnl::matmul::primitive_desc batched_matmul(const dnnl::memory::desc& a, const dnnl::memory::desc& b,
                                            const dnnl::memory::desc& c, float scale = 1.0f) {
    dnnl::primitive_attr attr;
    if (scale != 1.0f) attr.set_output_scales(0, {scale});
    return dnnl::matmul::primitive_desc(dnnl::matmul::desc(a, b, c), attr, cpu_engine());
}

}  // namespace

AttentionTrain::AttentionTrain(int64_t N, int64_t T, int64_t H, int64_t Dh) : D_(H * Dh) {
    const int64_t D = D_;
    const auto& engine = cpu_engine();
    const float scale = 1.0f / std::sqrt(static_cast<float>(Dh));
    // Views of qkv (and dqkv) [N*T, 3D] per (image, head): [N, H, T, Dh] and its transpose.
    const auto head_rows = strided_desc({N, H, T, Dh}, {T * 3 * D, Dh, 3 * D, 1});
    const auto head_cols = strided_desc({N, H, Dh, T}, {T * 3 * D, Dh, 1, 3 * D});
    const auto square = plain_desc({N, H, T, T});
    const auto square_t = strided_desc({N, H, T, T}, {H * T * T, T * T, 1, T});
    const auto context = strided_desc({N, H, T, Dh}, {T * D, Dh, D, 1});  // of [N*T, D]

    const auto scores_pd = batched_matmul(head_rows, head_cols, square, scale);
    const auto context_pd = batched_matmul(square, head_rows, context);
    const auto softmax_pd = dnnl::softmax_v2_forward::primitive_desc(
        dnnl::softmax_v2_forward::desc(dnnl::prop_kind::forward_training, dnnl::algorithm::softmax_accurate, square,
                                       square, 3),
        engine);
    const auto softmax_bwd_pd = dnnl::softmax_v2_backward::primitive_desc(
        dnnl::softmax_v2_backward::desc(dnnl::algorithm::softmax_accurate, square, square, square, 3), engine,
        softmax_pd);
    const auto dprobs_pd = batched_matmul(context, head_cols, square);
    const auto dvalues_pd = batched_matmul(square_t, context, head_rows);
    const auto dqueries_pd = batched_matmul(square, head_rows, head_rows, scale);
    const auto dkeys_pd = batched_matmul(square_t, head_rows, head_rows, scale);

    scores_ = dnnl::matmul(scores_pd);
    context_ = dnnl::matmul(context_pd);
    softmax_ = dnnl::softmax_v2_forward(softmax_pd);
    softmax_backward_ = dnnl::softmax_v2_backward(softmax_bwd_pd);
    dprobs_ = dnnl::matmul(dprobs_pd);
    dvalues_ = dnnl::matmul(dvalues_pd);
    dqueries_ = dnnl::matmul(dqueries_pd);
    dkeys_ = dnnl::matmul(dkeys_pd);
    for (const auto& [what, pd] : std::initializer_list<std::pair<const char*, const dnnl::primitive_desc_base*>>{
             {"attention scores", &scores_pd}, {"attention context", &context_pd}, {"softmax forward", &softmax_pd},
             {"softmax backward", &softmax_bwd_pd}, {"attention dP", &dprobs_pd}, {"attention dV", &dvalues_pd},
             {"attention dQ", &dqueries_pd}, {"attention dK", &dkeys_pd}})
        impls_.push_back(std::string(what) + ": " + pd->impl_info_str());

    for (dnnl::memory* m : {&q_, &k_, &v_, &dq_, &dk_, &dv_}) *m = dnnl::memory(head_rows, engine, nullptr);
    for (dnnl::memory* m : {&kt_, &vt_}) *m = dnnl::memory(head_cols, engine, nullptr);
    for (dnnl::memory* m : {&probs_, &dprobs_m_, &dscores_}) *m = dnnl::memory(square, engine, nullptr);
    for (dnnl::memory* m : {&probs_t_, &dscores_t_}) *m = dnnl::memory(square_t, engine, nullptr);
    for (dnnl::memory* m : {&ctx_, &dctx_}) *m = dnnl::memory(context, engine, nullptr);
}

void AttentionTrain::forward(dnnl::stream& stream, const float* qkv, float* probabilities, float* context) {
    float* base = const_cast<float*>(qkv);
    q_.set_data_handle(base);
    kt_.set_data_handle(base + D_);
    v_.set_data_handle(base + 2 * D_);
    probs_.set_data_handle(probabilities);
    ctx_.set_data_handle(context);
    scores_.execute(stream, {{DNNL_ARG_SRC, q_}, {DNNL_ARG_WEIGHTS, kt_}, {DNNL_ARG_DST, probs_}});
    softmax_.execute(stream, {{DNNL_ARG_SRC, probs_}, {DNNL_ARG_DST, probs_}});  // in place
    context_.execute(stream, {{DNNL_ARG_SRC, probs_}, {DNNL_ARG_WEIGHTS, v_}, {DNNL_ARG_DST, ctx_}});
}

void AttentionTrain::backward(dnnl::stream& stream, const float* qkv, const float* probabilities,
                              const float* dcontext, float* dqkv, float* dprobabilities, float* dscores) {
    float* base = const_cast<float*>(qkv);
    q_.set_data_handle(base);
    k_.set_data_handle(base + D_);
    vt_.set_data_handle(base + 2 * D_);
    probs_.set_data_handle(const_cast<float*>(probabilities));
    probs_t_.set_data_handle(const_cast<float*>(probabilities));
    dctx_.set_data_handle(const_cast<float*>(dcontext));
    dprobs_m_.set_data_handle(dprobabilities);
    dscores_.set_data_handle(dscores);
    dscores_t_.set_data_handle(dscores);
    dq_.set_data_handle(dqkv);
    dk_.set_data_handle(dqkv + D_);
    dv_.set_data_handle(dqkv + 2 * D_);
    dprobs_.execute(stream, {{DNNL_ARG_SRC, dctx_}, {DNNL_ARG_WEIGHTS, vt_}, {DNNL_ARG_DST, dprobs_m_}});
    dvalues_.execute(stream, {{DNNL_ARG_SRC, probs_t_}, {DNNL_ARG_WEIGHTS, dctx_}, {DNNL_ARG_DST, dv_}});
    softmax_backward_.execute(stream,
                              {{DNNL_ARG_DST, probs_}, {DNNL_ARG_DIFF_DST, dprobs_m_}, {DNNL_ARG_DIFF_SRC, dscores_}});
    dqueries_.execute(stream, {{DNNL_ARG_SRC, dscores_}, {DNNL_ARG_WEIGHTS, k_}, {DNNL_ARG_DST, dq_}});
    dkeys_.execute(stream, {{DNNL_ARG_SRC, dscores_t_}, {DNNL_ARG_WEIGHTS, q_}, {DNNL_ARG_DST, dk_}});
}

std::vector<std::string> AttentionTrain::implementations() const { return impls_; }

}  // namespace vitc::runtime
