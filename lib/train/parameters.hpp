#pragma once
// All of a model's trainable tensors in one contiguous f32 buffer (and the gradients in a second
// buffer of the same layout), as llm.c keeps them: one memset zeroes every gradient, one loop
// updates every weight, and a checkpoint is one array. The layout names each tensor, in the
// checkpoint's naming scheme, with its shape and whether weight decay applies to it.
#include <cstdint>
#include <string>
#include <vector>

namespace vitc::train {

struct ParameterTensor {
    std::string name;            // e.g. "blocks.0.attn.qkv.weight"
    std::vector<int64_t> shape;  // as stored in the checkpoint
    size_t offset = 0;           // into the buffer, in floats
    size_t numel = 0;
    bool decay = false;          // AdamW weight decay: matrices yes; biases, norms, positions, tokens no
};

class ParameterLayout {
public:
    // Appends a tensor and returns its offset.
    size_t add(const std::string& name, const std::vector<int64_t>& shape, bool decay);
    const std::vector<ParameterTensor>& tensors() const { return tensors_; }
    const ParameterTensor& find(const std::string& name) const;  // throws Error when absent
    size_t size() const { return size_; }                      // floats in the whole buffer
    size_t count() const;                                      // parameters (the buffer less padding)

private:
    std::vector<ParameterTensor> tensors_;
    size_t size_ = 0;
};

}  // namespace vitc::train
