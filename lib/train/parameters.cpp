#include "train/parameters.hpp"

#include "errors.hpp"

namespace vitc::train {

size_t ParameterLayout::add(const std::string& name, const std::vector<int64_t>& shape, bool decay) {
    ParameterTensor t;
    t.name = name;
    t.shape = shape;
    t.offset = size_;
    t.numel = 1;
    for (int64_t d : shape) t.numel *= static_cast<size_t>(d);
    t.decay = decay;
    // Each tensor starts on a 64-byte boundary, so oneDNN reads every weight matrix aligned.
    size_ += (t.numel + 15) / 16 * 16;
    tensors_.push_back(t);
    return t.offset;
}

size_t ParameterLayout::count() const {
    size_t n = 0;
    for (const auto& t : tensors_) n += t.numel;
    return n;
}

const ParameterTensor& ParameterLayout::find(const std::string& name) const {
    for (const auto& t : tensors_)
        if (t.name == name) return t;
    throw Error("no parameter named '" + name + "'");
}

}  // namespace vitc::train
