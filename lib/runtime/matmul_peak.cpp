#include "runtime/matmul_peak.hpp"

#include <algorithm>
#include <chrono>
#include <vector>

#include "runtime/dnnl_helpers.hpp"

namespace vitc::runtime {

double measure_matmul_gflops(Precision precision, int size, int repeats) {
    // The same kind of matmul the model's Linear layers run: int8 is s8 x s8 with run-time
    // per-column output scales (see runtime/linear.cpp), so its peak counts int8 operations.
    const auto type = weight_data_type(precision);
    const auto& engine = cpu_engine();
    const dnnl::memory::desc a = plain_desc({size, size}, type);
    const dnnl::memory::desc b({size, size}, type, dnnl::memory::format_tag::any);
    dnnl::primitive_attr attr;
    if (type == dnnl::memory::data_type::s8) attr.set_output_scales(1 << 1, {DNNL_RUNTIME_F32_VAL});
    const dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(a, b, plain_desc({size, size})), attr, engine);
    dnnl::memory src(a, engine), weights(pd.weights_desc(), engine), dst(pd.dst_desc(), engine);
    std::fill_n(static_cast<char*>(src.get_data_handle()), a.get_size(), 0);
    std::fill_n(static_cast<char*>(weights.get_data_handle()), pd.weights_desc().get_size(), 0);
    dnnl::memory scales(plain_desc({size}), engine);
    std::fill_n(static_cast<float*>(scales.get_data_handle()), size, 1.0f);
    const dnnl::matmul matmul(pd);
    dnnl::stream stream(engine);
    const Args args = {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, weights}, {DNNL_ARG_DST, dst},
                       {DNNL_ARG_ATTR_OUTPUT_SCALES, scales}};
    std::vector<double> seconds;
    for (int i = 0; i < repeats + 1; ++i) {  // the first run warms up
        const auto start = std::chrono::steady_clock::now();
        matmul.execute(stream, args);
        stream.wait();
        if (i) seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    }
    std::sort(seconds.begin(), seconds.end());
    return 2.0 * size * size * size / seconds[seconds.size() / 2] / 1e9;
}

}  // namespace vitc::runtime
