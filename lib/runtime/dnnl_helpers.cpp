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

ToBF16::ToBF16(const dims& shape) {
    const auto& engine = cpu_engine();
    src_ = dnnl::memory(plain_desc(shape), engine, nullptr);
    dst_ = dnnl::memory(plain_desc(shape, dt::bf16), engine, nullptr);
    const dnnl::reorder::primitive_desc pd(src_, dst_);
    reorder_ = dnnl::reorder(pd);
    implementation_ = pd.impl_info_str();
}

void ToBF16::run(dnnl::stream& stream, const float* src, bfloat16* dst) {
    src_.set_data_handle(const_cast<float*>(src));
    dst_.set_data_handle(dst);
    reorder_.execute(stream, src_, dst_);
}

std::string ToBF16::implementation() const { return "to bf16: " + implementation_; }

}  // namespace vitc::runtime
