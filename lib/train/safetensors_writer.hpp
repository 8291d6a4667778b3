#pragma once
// Writes F32 tensors in the safetensors format (see io/safetensors.hpp for the layout), atomically:
// the file appears complete or not at all.
#include <cstdint>
#include <string>
#include <vector>

namespace vitc::train {

struct TensorToWrite {
    std::string name;
    std::vector<int64_t> shape;
    const float* values;  // numel(shape) floats
};

void write_safetensors(const std::string& path, const std::vector<TensorToWrite>& tensors);

}  // namespace vitc::train
