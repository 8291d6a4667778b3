#pragma once
// Timing a model: warm-up, then repeated forward passes on one batch; median and spread of the
// latency, throughput, achieved GFLOP/s, and memory.
#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <string>

#include "models/model.hpp"

namespace vitc {

struct BenchmarkResult {
    std::string model;
    int batch = 1;
    int iterations = 0;
    double latency_ms_median = 0, latency_ms_p10 = 0, latency_ms_p90 = 0;  // per forward pass
    double images_per_second = 0;
    int64_t flops_per_image = 0;
    double gflops = 0;  // achieved, at the median latency
    double session_setup_ms = 0;
    double buffers_mb = 0;                  // the session's activation buffers and scratchpad
    double resident_mb_before_session = 0;  // after loading the weights
    // Process high-water mark from creating the session to the end of the runs (the mark is
    // reset first where the kernel allows, so the transient peak of loading is not counted).
    double peak_resident_mb = 0;
    bool peak_reset = false;  // false: the mark could not be reset and includes loading
};

BenchmarkResult benchmark_model(const Model& model, const std::string& name, int batch, int iterations,
                                int warmup);

// Current and peak resident set size of this process, in MiB (from /proc/self/status).
double resident_mb();
double peak_resident_mb();
// Resets the high-water mark to the current resident size (Linux /proc/self/clear_refs);
// false where that is not allowed.
bool reset_peak_resident();

}  // namespace vitc
