#pragma once
// Symmetric int8 quantisation: x ~ scale * q with q in [-127, 127] and no zero point (-128 is
// left unused, so q and -q are both representable).
#include <cstdint>
#include <vector>

#include <dnnl.hpp>

#include "runtime/dnnl_helpers.hpp"
#include "tensor.hpp"

namespace vitc::runtime {

// The scale for values whose largest magnitude is max_abs; 1 when that is 0, denormal or not
// finite (q is then 0, or saturates).
float symmetric_scale(float max_abs);

// A PyTorch [out, in] weight quantised per output channel:
//   scales[n] = max_k |W[n][k]| / 127,   values[n * in + k] = round(W[n][k] / scales[n]).
struct RowQuantized {
    std::vector<int8_t> values;
    std::vector<float> scales;
};
RowQuantized quantize_rows(const Tensor& weight);

// max_i |values[i]|, split over oneDNN's thread team; NaN if any value is NaN.
float max_abs(const float* values, int64_t count);

// Quantises an f32 activation per tensor at run time: a max-abs pass, then a oneDNN reorder
// f32 -> s8 with the runtime scale 1/s. Built once per shape; owns its s8 output buffer.
class DynamicQuantizer {
public:
    DynamicQuantizer() = default;
    explicit DynamicQuantizer(const dnnl::memory::desc& source);  // dense row-major f32
    // Not copyable: a copy would share the output buffer (dnnl::memory is a shared handle).
    DynamicQuantizer(const DynamicQuantizer&) = delete;
    DynamicQuantizer& operator=(const DynamicQuantizer&) = delete;
    DynamicQuantizer(DynamicQuantizer&&) = default;
    DynamicQuantizer& operator=(DynamicQuantizer&&) = default;

    const dnnl::memory& output() const { return quantized_; }
    // Waits for `source` to be computed, fills output() and returns s: source ~ s * output().
    float run(dnnl::stream& stream, const dnnl::memory& source);

private:
    dnnl::memory::desc source_desc_;
    int64_t count_ = 0;
    dnnl::reorder reorder_;
    dnnl::memory quantized_, inverse_scale_;
    Args args_;  // built once; only the source changes
};

}  // namespace vitc::runtime
