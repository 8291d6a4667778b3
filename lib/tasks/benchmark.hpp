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
    double resident_mb_before_session = 0;  // after loading the weights
    double peak_resident_mb = 0;            // process high-water mark after the runs
};

BenchmarkResult benchmark_model(const Model& model, const std::string& name, int batch, int iterations,
                                int warmup);

// Current and peak resident set size of this process, in MiB (from /proc/self/status).
double resident_mb();
double peak_resident_mb();

}  // namespace vitc
