#include "models/fold_batch_norm.hpp"

#include <cmath>

#include "errors.hpp"

namespace vitc {

FoldedConv fold_batch_norm(const Tensor& conv_weight, const Tensor& gamma, const Tensor& beta, const Tensor& mean,
                           const Tensor& var, float eps) {
    const int64_t O = conv_weight.shape.empty() ? 0 : conv_weight.dim(0);
    for (const Tensor* t : {&gamma, &beta, &mean, &var})
        if (t->numel() != O) throw Error("BatchNorm has " + std::to_string(t->numel()) + " channels, the convolution " + std::to_string(O));
    FoldedConv f{conv_weight, Tensor{{O}, std::vector<float>(O)}};
    const int64_t per_output = O ? conv_weight.numel() / O : 0;
    for (int64_t o = 0; o < O; ++o) {
        const double s = gamma.values[o] / std::sqrt(static_cast<double>(var.values[o]) + eps);
        for (int64_t i = 0; i < per_output; ++i) {
            float& w = f.weight.values[o * per_output + i];
            w = static_cast<float>(w * s);
        }
        f.bias.values[o] = static_cast<float>(beta.values[o] - mean.values[o] * s);
    }
    return f;
}

}  // namespace vitc
