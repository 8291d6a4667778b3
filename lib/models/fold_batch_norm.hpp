#pragma once
// Folding an inference-mode BatchNorm into the bias-free convolution before it, so that a
// ResNet runs as convolutions with a bias and nothing else:
//
//   BN(conv(x))[o] = (conv(x)[o] - mean[o]) * s[o] + beta[o],   s[o] = gamma[o] / sqrt(var[o] + eps)
//                  = conv'(x)[o]  with  W'[o] = W[o] * s[o],  b'[o] = beta[o] - mean[o] * s[o]
#include "tensor.hpp"

namespace vitc {

constexpr float kBatchNormEps = 1e-5f;  // torchvision's BatchNorm2d default; not stored in checkpoints

struct FoldedConv {
    Tensor weight;  // [O, I, kh, kw]
    Tensor bias;    // [O]
};

// conv_weight [O, ...] and gamma, beta, mean, var [O]; computed in double, stored as float.
FoldedConv fold_batch_norm(const Tensor& conv_weight, const Tensor& gamma, const Tensor& beta, const Tensor& mean,
                           const Tensor& var, float eps = kBatchNormEps);

}  // namespace vitc
