#include "runtime/quantize.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "errors.hpp"
#include "runtime/dnnl_helpers.hpp"
#include "runtime/threads.hpp"

namespace vitc::runtime {

// Below 127 x the smallest normal float the scale (and 1/scale) would underflow (overflow), and
// 0/0 would reach the int8 conversion; such values quantise to 0 with scale 1 instead.
float symmetric_scale(float max_abs) {
    return max_abs >= 127.0f * std::numeric_limits<float>::min() && std::isfinite(max_abs) ? max_abs / 127.0f : 1.0f;
}

RowQuantized quantize_rows(const Tensor& weight) {
    const int64_t rows = weight.dim(0), cols = weight.numel() / rows;
    RowQuantized q;
    q.values.resize(static_cast<size_t>(weight.numel()));
    q.scales.resize(static_cast<size_t>(rows));
    for (int64_t n = 0; n < rows; ++n) {
        const float* row = weight.values.data() + n * cols;
        float largest = 0;  // of the finite values: an infinity saturates to +-127, NaN becomes 0
        for (int64_t k = 0; k < cols; ++k)
            if (std::isfinite(row[k])) largest = std::max(largest, std::fabs(row[k]));
        const float scale = symmetric_scale(largest);
        q.scales[n] = scale;
        for (int64_t k = 0; k < cols; ++k) {
            const float v = std::isnan(row[k]) ? 0.0f : std::clamp(std::nearbyint(row[k] / scale), -127.0f, 127.0f);
            q.values[n * cols + k] = static_cast<int8_t>(v);
        }
    }
    return q;
}

namespace {

// Vectorised (omp simd) and compiled for AVX-512, AVX2 and the baseline, picked at load time:
// the build targets generic x86-64.
__attribute__((target_clones("avx512f", "avx2", "default")))
float max_abs_range(const float* values, int64_t begin, int64_t end) {
    float m = 0;
    int nan = 0;  // the max reduction drops NaNs, so they are counted on the side
#pragma omp simd reduction(max : m) reduction(| : nan)
    for (int64_t i = begin; i < end; ++i) {
        const float magnitude = std::fabs(values[i]);
        m = magnitude > m ? magnitude : m;
        nan |= magnitude != magnitude;
    }
    return nan ? std::numeric_limits<float>::quiet_NaN() : m;
}

}  // namespace

float max_abs(const float* values, int64_t count) {
    std::vector<float> partial(static_cast<size_t>(max_threads()), 0.0f);
    parallel_ranges(count, [&](int thread, int64_t begin, int64_t end) { partial[thread] = max_abs_range(values, begin, end); });
    float m = 0;
    for (float p : partial) m = (p > m || p != p) ? p : m;
    return m;
}

DynamicQuantizer::DynamicQuantizer(const dnnl::memory::desc& source) : source_desc_(source) {
    if (source != plain_desc(source.dims())) throw Error("internal: DynamicQuantizer needs a dense row-major f32 source");
    count_ = 1;
    for (int64_t d : source.dims()) count_ *= d;
    const auto& engine = cpu_engine();
    quantized_ = dnnl::memory(plain_desc(source.dims(), dnnl::memory::data_type::s8), engine);
    inverse_scale_ = dnnl::memory(plain_desc({1}), engine);
    dnnl::primitive_attr attr;
    attr.set_output_scales(0, {DNNL_RUNTIME_F32_VAL});
    reorder_ = dnnl::reorder(dnnl::reorder::primitive_desc(engine, source, engine, quantized_.get_desc(), attr));
    args_ = {{DNNL_ARG_TO, quantized_}, {DNNL_ARG_ATTR_OUTPUT_SCALES, inverse_scale_}};
}

float DynamicQuantizer::run(dnnl::stream& stream, const dnnl::memory& source) {
    if (source.get_desc() != source_desc_) throw Error("internal: DynamicQuantizer given a source of another shape or layout");
    stream.wait();
    const float largest = max_abs(static_cast<const float*>(source.get_data_handle()), count_);
    // A NaN or an infinity in the input gives NaN scales, so the layer's output is NaN as in f32
    // rather than quietly finite.
    const float scale = std::isfinite(largest) ? symmetric_scale(largest) : std::numeric_limits<float>::quiet_NaN();
    *static_cast<float*>(inverse_scale_.get_data_handle()) = 1.0f / scale;
    args_[DNNL_ARG_FROM] = source;
    reorder_.execute(stream, args_);
    return scale;
}

}  // namespace vitc::runtime
