#pragma once
// Reading prepared weights back out of oneDNN: whatever layout and type a primitive chose, as
// plain row-major f32 values (for code that computes in plain loops, e.g. explanations).
#include <dnnl.hpp>
#include <vector>

namespace vitc::runtime {

// The values of `m` (any layout, f32 or bf16) in row-major order of its dimensions.
std::vector<float> plain_f32_values(const dnnl::memory& m);

}  // namespace vitc::runtime
