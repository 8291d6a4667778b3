#pragma once
// The only place (with the models' primitive wiring) that speaks oneDNN: the engine, memory
// descriptors, and Linear-layer weights prepared once in the layout the matmul asks for.
#include <dnnl.hpp>
#include <unordered_map>

#include "tensor.hpp"

namespace vitc::runtime {

using dims = dnnl::memory::dims;
using Args = std::unordered_map<int, dnnl::memory>;

// One CPU engine for the whole process (oneDNN engines are thread-safe).
const dnnl::engine& cpu_engine();

using data_type = dnnl::memory::data_type;

// Row-major descriptor.
dnnl::memory::desc plain_desc(const dims& shape, data_type type = data_type::f32);
// Descriptor with explicit element strides: a view into a larger buffer.
dnnl::memory::desc strided_desc(const dims& shape, const dims& strides, data_type type = data_type::f32);

// A copy of `values` in a fresh plain f32 memory of the given shape.
dnnl::memory copy_to_memory(const std::vector<float>& values, const dims& shape);

// A Linear layer y = x W^T + b with W [out, in] as PyTorch stores it. The weights are converted
// to `type` and reordered, once, into the layout oneDNN's matmul picks for them (format_tag::any).
struct LinearWeights {
    int64_t in = 0, out = 0;
    data_type type = data_type::f32;  // of the weights and of the input rows
    dnnl::memory weights;             // logical [in, out]
    dnnl::memory bias;                // [1, out], f32
};
LinearWeights prepare_linear(const Tensor& weight, const Tensor& bias, data_type type = data_type::f32);

// Matmul for `rows` x in -> rows x out with the prepared weights, bias and `post_ops`; the input
// has the weights' type, the output `dst_type`. Scratchpad is user-managed: the caller provides
// one buffer big enough for every primitive.
dnnl::matmul::primitive_desc linear_primitive_desc(int64_t rows, const LinearWeights& w,
                                                   const dnnl::post_ops& post_ops = dnnl::post_ops(),
                                                   data_type dst_type = data_type::f32);

// Attributes with user scratchpad mode (and optional post-ops / output scale).
dnnl::primitive_attr user_scratchpad_attr(const dnnl::post_ops& post_ops = dnnl::post_ops(), float output_scale = 1.0f);

}  // namespace vitc::runtime
