#pragma once
// Exact GELU, y = x Phi(x), for training on oneDNN's eltwise_gelu_erf. Its backward takes the
// forward's input x (not y): dx = dy (Phi(x) + x phi(x)).
#include <string>
#include <vector>

#include "runtime/dnnl_helpers.hpp"

namespace vitc::runtime {

class GeluTrain {
public:
    GeluTrain() = default;
    explicit GeluTrain(int64_t count);

    void forward(dnnl::stream& stream, const float* x, float* y);                    // [count]
    void backward(dnnl::stream& stream, const float* dy, const float* x, float* dx);  // [count]

    std::vector<std::string> implementations() const;

private:
    dnnl::eltwise_forward forward_;
    dnnl::eltwise_backward backward_;
    std::string forward_impl_, backward_impl_;
    dnnl::memory x_, y_, dy_, dx_;
};

}  // namespace vitc::runtime
