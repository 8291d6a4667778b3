#include "runtime/dnnl_helpers.hpp"

#include <cstring>

namespace vitc::runtime {

using tag = dnnl::memory::format_tag;
using dt = dnnl::memory::data_type;

const dnnl::engine& cpu_engine() {
    static const dnnl::engine engine(dnnl::engine::kind::cpu, 0);
    return engine;
}

dnnl::memory::desc plain_desc(const dims& shape, data_type type) {
    static const tag tags[] = {tag::undef, tag::a, tag::ab, tag::abc, tag::abcd, tag::abcde};
    return dnnl::memory::desc(shape, type, tags[shape.size()]);
}

dnnl::memory::desc strided_desc(const dims& shape, const dims& strides, data_type type) {
    return dnnl::memory::desc(shape, type, strides);
}

dnnl::memory copy_to_memory(const std::vector<float>& values, const dims& shape) {
    dnnl::memory m(plain_desc(shape), cpu_engine());
    std::memcpy(m.get_data_handle(), values.data(), values.size() * sizeof(float));
    return m;
}

dnnl::primitive_attr user_scratchpad_attr(const dnnl::post_ops& post_ops, float output_scale) {
    dnnl::primitive_attr attr;
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    attr.set_post_ops(post_ops);
    if (output_scale != 1.0f) attr.set_output_scales(0, {output_scale});
    return attr;
}

namespace {

// The weight layout is chosen with a representative row count; every later primitive for any
// row count is created against that fixed layout, so weights are reordered exactly once.
constexpr int64_t kLayoutProbeRows = 256;

dnnl::matmul::primitive_desc make_linear_pd(int64_t rows, int64_t in, int64_t out,
                                            const dnnl::memory::desc& weights_desc,
                                            const dnnl::post_ops& post_ops, data_type dst_type) {
    const dnnl::matmul::desc desc(plain_desc({rows, in}, weights_desc.data_type()), weights_desc,
                                  plain_desc({1, out}), plain_desc({rows, out}, dst_type));
    return dnnl::matmul::primitive_desc(desc, user_scratchpad_attr(post_ops), cpu_engine());
}

}  // namespace

LinearWeights prepare_linear(const Tensor& weight, const Tensor& bias, data_type type) {
    LinearWeights w;
    w.out = weight.dim(0);
    w.in = weight.dim(1);
    w.type = type;
    // PyTorch's [out, in] row-major is the [in, out] matrix with strides {1, in}: format "ba".
    // The reorder converts f32 to `type` on the way.
    const dnnl::memory::desc user_desc({w.in, w.out}, dt::f32, tag::ba);
    const dnnl::memory::desc any_desc({w.in, w.out}, type, tag::any);
    const auto pd = make_linear_pd(kLayoutProbeRows, w.in, w.out, any_desc, dnnl::post_ops(), type);
    dnnl::memory user(user_desc, cpu_engine(), const_cast<float*>(weight.values.data()));
    w.weights = dnnl::memory(pd.weights_desc(), cpu_engine());
    dnnl::stream stream(cpu_engine());
    dnnl::reorder(user, w.weights).execute(stream, user, w.weights);
    stream.wait();
    w.bias = copy_to_memory(bias.values, {1, w.out});
    return w;
}

dnnl::matmul::primitive_desc linear_primitive_desc(int64_t rows, const LinearWeights& w,
                                                   const dnnl::post_ops& post_ops, data_type dst_type) {
    return make_linear_pd(rows, w.in, w.out, w.weights.get_desc(), post_ops, dst_type);
}

}  // namespace vitc::runtime
