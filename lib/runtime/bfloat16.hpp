#pragma once
// bf16 as oneDNN stores it: the upper 16 bits of an f32 (8-bit mantissa, f32's exponent range).
#include <cstdint>

namespace vitc::runtime {

struct bfloat16 {
    uint16_t bits;
};

}  // namespace vitc::runtime
