#include "runtime/linear.hpp"

#include <cstring>

#include "errors.hpp"

namespace vitc::runtime {

using tag = dnnl::memory::format_tag;
using dt = dnnl::memory::data_type;

namespace {

// The weight layout is chosen with a representative row count; every later primitive for any
// row count is created against that fixed layout, so weights are reordered exactly once.
constexpr int64_t kLayoutProbeRows = 256;

// s8: oneDNN 2.x adds a matmul's own bias to the s32 accumulator, before the output scale, so the
// f32 bias is added by a binary post-op after the scale instead. It goes after a leading sum (the
// residual) and before any eltwise (GELU); that order keeps oneDNN on its fast gemm kernel.
dnnl::post_ops with_bias_post_op(const dnnl::post_ops& post_ops, int64_t out, int* bias_index) {
    dnnl::post_ops ops;
    int i = 0;
    if (post_ops.len() > 0 && post_ops.kind(0) == dnnl::primitive::kind::sum) {
        float scale = 1.0f;
        post_ops.get_params_sum(0, scale);
        ops.append_sum(scale);
        i = 1;
    }
    *bias_index = i;
    ops.append_binary(dnnl::algorithm::binary_add, plain_desc({1, out}));
    for (; i < post_ops.len(); ++i) {
        float scale = 1.0f, alpha = 0.0f, beta = 0.0f;
        dnnl::algorithm algorithm;
        post_ops.get_params_eltwise(i, scale, algorithm, alpha, beta);  // throws for other kinds
        ops.append_eltwise(scale, algorithm, alpha, beta);
    }
    return ops;
}

dnnl::matmul::primitive_desc make_linear_pd(int64_t rows, int64_t in, int64_t out,
                                            const dnnl::memory::desc& weights_desc,
                                            const dnnl::post_ops& post_ops, data_type dst_type,
                                            int* bias_post_op = nullptr) {
    const auto type = weights_desc.data_type();
    const auto src = plain_desc({rows, in}, type), dst = plain_desc({rows, out}, dst_type);
    if (type != dt::s8)
        return dnnl::matmul::primitive_desc(dnnl::matmul::desc(src, weights_desc, plain_desc({1, out}), dst),
                                            user_scratchpad_attr(post_ops), cpu_engine());
    int bias_index = 0;
    dnnl::primitive_attr attr = user_scratchpad_attr(with_bias_post_op(post_ops, out, &bias_index));
    attr.set_output_scales(1 << 1, {DNNL_RUNTIME_F32_VAL});  // per column, given at run time
    if (bias_post_op) *bias_post_op = bias_index;
    return dnnl::matmul::primitive_desc(dnnl::matmul::desc(src, weights_desc, dst), attr, cpu_engine());
}

}  // namespace

LinearWeights prepare_linear(const Tensor& weight, const Tensor& bias, data_type type) {
    LinearWeights w;
    w.out = weight.dim(0);
    w.in = weight.dim(1);
    w.type = type;
    // PyTorch's [out, in] row-major is the [in, out] matrix with strides {1, in}: format "ba".
    // The reorder converts f32 to bf16 on the way; s8 is quantised per row first.
    RowQuantized quantized;
    void* user_values = const_cast<float*>(weight.values.data());
    if (type == dt::s8) {
        quantized = quantize_rows(weight);
        w.channel_scales = quantized.scales;
        user_values = quantized.values.data();
    }
    const dnnl::memory::desc user_desc({w.in, w.out}, type == dt::s8 ? dt::s8 : dt::f32, tag::ba);
    const dnnl::memory::desc any_desc({w.in, w.out}, type, tag::any);
    const auto pd = make_linear_pd(kLayoutProbeRows, w.in, w.out, any_desc, dnnl::post_ops(), dt::f32);
    dnnl::memory user(user_desc, cpu_engine(), user_values);
    w.weights = dnnl::memory(pd.weights_desc(), cpu_engine());
    dnnl::stream stream(cpu_engine());
    dnnl::reorder(user, w.weights).execute(stream, user, w.weights);
    stream.wait();
    w.bias = copy_to_memory(bias.values, {1, w.out});
    return w;
}

dnnl::matmul::primitive_desc linear_primitive_desc(int64_t rows, const LinearWeights& w,
                                                   const dnnl::post_ops& post_ops, data_type dst_type,
                                                   int* bias_post_op) {
    return make_linear_pd(rows, w.in, w.out, w.weights.get_desc(), post_ops, dst_type, bias_post_op);
}

LinearLayer::LinearLayer(int64_t rows, const LinearWeights& like, const dnnl::post_ops& post_ops, data_type dst_type)
    : type_(like.type), quantized_(like.type == dt::s8) {
    int bias_post_op = 0;
    const auto pd = linear_primitive_desc(rows, like, post_ops, dst_type, &bias_post_op);
    matmul_ = dnnl::matmul(pd);
    weights_desc_ = like.weights.get_desc();
    scratchpad_bytes_ = pd.scratchpad_desc().get_size();
    implementation_ = pd.impl_info_str();
    bias_arg_ = DNNL_ARG_BIAS;
    if (quantized_) {
        quantizer_ = DynamicQuantizer(plain_desc({rows, like.in}));
        output_scales_ = dnnl::memory(plain_desc({like.out}), cpu_engine());
        args_[DNNL_ARG_ATTR_OUTPUT_SCALES] = output_scales_;
        bias_arg_ = DNNL_ARG_ATTR_MULTIPLE_POST_OP(bias_post_op) | DNNL_ARG_SRC_1;
    }
}

size_t LinearLayer::buffer_bytes() const {
    return quantized_ ? quantizer_.output().get_desc().get_size() + output_scales_.get_desc().get_size() : 0;
}

void LinearLayer::run(dnnl::stream& stream, const dnnl::memory& src, const LinearWeights& w, const dnnl::memory& dst,
                      const dnnl::memory& scratchpad) {
    if (w.weights.get_desc() != weights_desc_ || w.channel_scales.size() != (quantized_ ? static_cast<size_t>(w.out) : 0))
        throw Error("internal: LinearLayer given weights of another shape or layout");
    args_[DNNL_ARG_WEIGHTS] = w.weights;
    args_[bias_arg_] = w.bias;
    args_[DNNL_ARG_DST] = dst;
    args_[DNNL_ARG_SCRATCHPAD] = scratchpad;
    if (!quantized_) {
        args_[DNNL_ARG_SRC] = src;
        matmul_.execute(stream, args_);
        return;
    }
    const float input_scale = quantizer_.run(stream, src);
    float* scales = static_cast<float*>(output_scales_.get_data_handle());
    for (int64_t n = 0; n < w.out; ++n) scales[n] = input_scale * w.channel_scales[n];
    args_[DNNL_ARG_SRC] = quantizer_.output();
    matmul_.execute(stream, args_);
}

}  // namespace vitc::runtime
