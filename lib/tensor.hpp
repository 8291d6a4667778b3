#pragma once
// A host tensor in f32: a shape and its row-major values. Weights are read into these, checked,
// and handed to the runtime, which reorders them once into the layout its primitives want.
#include <cstdint>
#include <string>
#include <vector>

namespace vitc {

struct Tensor {
    std::vector<int64_t> shape;
    std::vector<float> values;

    bool empty() const { return values.empty(); }
    int64_t dim(size_t i) const { return shape.at(i); }
    int64_t numel() const {
        int64_t n = 1;
        for (int64_t d : shape) n *= d;
        return n;
    }
};

}  // namespace vitc
