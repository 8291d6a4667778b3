#pragma once
// LayerNorm over the last dimension for training, on oneDNN:
//   y = (x - mean) / sqrt(var + eps) * gamma + beta        x, y [rows, dim]; gamma, beta [dim]
// forward_training saves mean and variance [rows], which the backward primitive needs.
#include <string>
#include <vector>

#include "runtime/dnnl_helpers.hpp"

namespace vitc::runtime {

class LayerNormTrain {
public:
    LayerNormTrain() = default;
    LayerNormTrain(int64_t rows, int64_t dim, float eps);

    // y [rows, dim]; mean, variance [rows] are written for backward.
    void forward(dnnl::stream& stream, const float* x, const float* gamma, const float* beta, float* y, float* mean,
                 float* variance);
    // dx [rows, dim], dgamma, dbeta [dim], written (not accumulated).
    void backward(dnnl::stream& stream, const float* dy, const float* x, const float* mean, const float* variance,
                  const float* gamma, const float* beta, float* dx, float* dgamma, float* dbeta);

    std::vector<std::string> implementations() const;

private:
    dnnl::layer_normalization_forward forward_;
    dnnl::layer_normalization_backward backward_;
    std::string forward_impl_, backward_impl_;
    dnnl::memory x_, gamma_, beta_, y_, mean_, variance_, dy_, dx_, dgamma_, dbeta_;
};

}  // namespace vitc::runtime
