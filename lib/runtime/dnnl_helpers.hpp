#pragma once
// oneDNN basics shared by the runtime: the engine, memory descriptors, attributes.
#include <dnnl.hpp>
#include <string>
#include <unordered_map>

#include "runtime/bfloat16.hpp"
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

// Attributes with user scratchpad mode (and optional post-ops / output scale).
dnnl::primitive_attr user_scratchpad_attr(const dnnl::post_ops& post_ops = dnnl::post_ops(), float output_scale = 1.0f);

// dst = bf16(src), rounded to nearest even, for a fixed shape (one reorder primitive, built once).
class ToBF16 {
public:
    ToBF16() = default;
    explicit ToBF16(const dims& shape);
    void run(dnnl::stream& stream, const float* src, bfloat16* dst);  // the stream may still run
    std::string implementation() const;

private:
    dnnl::reorder reorder_;
    std::string implementation_;
    dnnl::memory src_, dst_;
};

}  // namespace vitc::runtime
