#include "tasks/benchmark.hpp"

#include <algorithm>
#include <chrono>
#include <fstream>
#include <random>
#include <vector>

namespace vitc {

namespace {

double status_field_mb(const char* field) {
    std::ifstream status("/proc/self/status");
    std::string key;
    while (status >> key) {
        if (key == field) {
            double kb = 0;
            status >> kb;
            return kb / 1024.0;
        }
        status.ignore(1 << 12, '\n');
    }
    return 0;
}

double percentile(std::vector<double> values, double q) {
    std::sort(values.begin(), values.end());
    return values[static_cast<size_t>(q * (values.size() - 1) + 0.5)];
}

}  // namespace

double resident_mb() { return status_field_mb("VmRSS:"); }
double peak_resident_mb() { return status_field_mb("VmHWM:"); }

bool reset_peak_resident() {
    std::ofstream clear_refs("/proc/self/clear_refs");
    clear_refs << "5";
    clear_refs.flush();
    return static_cast<bool>(clear_refs);
}

BenchmarkResult benchmark_model(const Model& model, const std::string& name, int batch, int iterations,
                                int warmup) {
    using Clock = std::chrono::steady_clock;
    BenchmarkResult r;
    r.model = name;
    r.batch = batch;
    r.iterations = iterations;
    r.flops_per_image = model.summary().flops_per_image;
    r.resident_mb_before_session = resident_mb();
    r.peak_reset = reset_peak_resident();

    const int h = model.preprocessing().output_height(), w = model.preprocessing().output_width();
    std::vector<float> images(static_cast<size_t>(batch) * model.num_channels() * h * w);
    std::mt19937 rng(0);
    std::normal_distribution<float> normal;
    for (float& v : images) v = normal(rng);
    std::vector<float> logits(static_cast<size_t>(batch) * model.labels().size());

    const auto setup_start = Clock::now();
    auto session = model.create_session(batch, h, w);
    r.session_setup_ms = std::chrono::duration<double, std::milli>(Clock::now() - setup_start).count();
    r.buffers_mb = static_cast<double>(session->buffer_bytes()) / (1024.0 * 1024.0);
    for (int i = 0; i < warmup; ++i) session->run(images.data(), logits.data());
    std::vector<double> ms;
    for (int i = 0; i < iterations; ++i) {
        const auto start = Clock::now();
        session->run(images.data(), logits.data());
        ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - start).count());
    }
    r.latency_ms_median = percentile(ms, 0.5);
    r.latency_ms_p10 = percentile(ms, 0.1);
    r.latency_ms_p90 = percentile(ms, 0.9);
    r.images_per_second = batch / (r.latency_ms_median / 1000.0);
    r.gflops = static_cast<double>(r.flops_per_image) * batch / (r.latency_ms_median / 1000.0) / 1e9;
    r.peak_resident_mb = peak_resident_mb();
    return r;
}

}  // namespace vitc
