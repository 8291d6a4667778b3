#pragma once
// The machine's matmul ceiling, measured in the same run as a benchmark: a large square oneDNN
// matmul in the given precision, median of several runs.
#include "runtime/precision.hpp"

namespace vitc::runtime {

double measure_matmul_gflops(Precision precision, int size = 2048, int repeats = 7);

}  // namespace vitc::runtime
