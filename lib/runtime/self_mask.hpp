#pragma once
// Locality self-attention's mask for the full attention kernels (inference and training): no
// token attends to itself. The scores' diagonal is set to -inf before the softmax, and the
// probabilities' diagonal to exactly 0 after it, so the backward's dS_ii = P_ii (...) is 0 too.
// (The tiled kernel masks inside its blocks: runtime/tiled_attention.cpp.)
#include <cstdint>
#include <limits>

#include "runtime/bfloat16.hpp"

namespace vitc::runtime {

// Sets the diagonal of each of `matrices` consecutive [tokens, tokens] matrices to `value`
// (N*H*T writes: one thread does it in microseconds at the sizes the full kernels run).
template <typename Element>
void set_diagonals(Element* data, int64_t matrices, int64_t tokens, Element value) {
    for (int64_t m = 0; m < matrices; ++m)
        for (int64_t i = 0; i < tokens; ++i) data[(m * tokens + i) * tokens + i] = value;
}

inline void mask_self_scores(float* scores, int64_t matrices, int64_t tokens) {
    set_diagonals(scores, matrices, tokens, -std::numeric_limits<float>::infinity());
}
inline void zero_self_probabilities(float* probabilities, int64_t matrices, int64_t tokens) {
    set_diagonals(probabilities, matrices, tokens, 0.0f);
}
inline void zero_self_probabilities(bfloat16* probabilities, int64_t matrices, int64_t tokens) {
    set_diagonals(probabilities, matrices, tokens, bfloat16{0});
}

}  // namespace vitc::runtime
