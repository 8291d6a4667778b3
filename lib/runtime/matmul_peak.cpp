#include "runtime/matmul_peak.hpp"

#include <algorithm>
#include <chrono>
#include <vector>

#include "runtime/dnnl_helpers.hpp"

namespace vitc::runtime {

double measure_matmul_gflops(Precision precision, int size, int repeats) {
    const auto type = matmul_data_type(precision);
    const auto& engine = cpu_engine();
    const dnnl::memory::desc a = plain_desc({size, size}, type);
    const dnnl::memory::desc b({size, size}, type, dnnl::memory::format_tag::any);
    const dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(a, b, plain_desc({size, size})), engine);
    dnnl::memory src(a, engine), weights(pd.weights_desc(), engine), dst(pd.dst_desc(), engine);
    std::fill_n(static_cast<char*>(src.get_data_handle()), a.get_size(), 0);
    std::fill_n(static_cast<char*>(weights.get_data_handle()), pd.weights_desc().get_size(), 0);
    const dnnl::matmul matmul(pd);
    dnnl::stream stream(engine);
    std::vector<double> seconds;
    for (int i = 0; i < repeats + 1; ++i) {  // the first run warms up
        const auto start = std::chrono::steady_clock::now();
        matmul.execute(stream, {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, weights}, {DNNL_ARG_DST, dst}});
        stream.wait();
        if (i) seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    }
    std::sort(seconds.begin(), seconds.end());
    return 2.0 * size * size * size / seconds[seconds.size() / 2] / 1e9;
}

}  // namespace vitc::runtime
