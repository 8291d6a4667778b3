#include "train/optimizer.hpp"

#include <cmath>

namespace vitc::train {

float scheduled_learning_rate(float lr, int64_t step, int64_t warmup, int64_t total) {
    if (step < warmup) return lr * static_cast<float>(step + 1) / static_cast<float>(warmup);
    if (total <= warmup) return lr;
    const double progress = static_cast<double>(step - warmup) / static_cast<double>(total - warmup);
    return static_cast<float>(0.5 * lr * (1.0 + std::cos(M_PI * std::min(progress, 1.0))));
}

double clip_by_global_norm(float* grads, size_t n, float max_norm) {
    double sum = 0;
    for (size_t i = 0; i < n; ++i) sum += static_cast<double>(grads[i]) * grads[i];
    const double norm = std::sqrt(sum);
    if (max_norm > 0) {
        const double coefficient = max_norm / (norm + 1e-6);
        if (coefficient < 1.0) {
            const auto c = static_cast<float>(coefficient);
            for (size_t i = 0; i < n; ++i) grads[i] *= c;
        }
    }
    return norm;
}

Optimizer::Optimizer(const ParameterLayout& layout, OptimizerSettings settings)
    : tensors_(layout.tensors()), settings_(settings) {
    m_.assign(layout.size(), 0.0f);
    if (settings.kind == OptimizerKind::AdamW) v_.assign(layout.size(), 0.0f);
}

void Optimizer::step(float* params, const float* grads, float lr) {
    const OptimizerSettings& s = settings_;
    ++t_;
    if (s.kind == OptimizerKind::AdamW) {
        const float correction1 = 1.0f - std::pow(s.beta1, static_cast<float>(t_));
        const float correction2_sqrt = std::sqrt(1.0f - std::pow(s.beta2, static_cast<float>(t_)));
        const float step_size = lr / correction1;
        for (const ParameterTensor& t : tensors_) {
            float *p = params + t.offset, *m = m_.data() + t.offset, *v = v_.data() + t.offset;
            const float* g = grads + t.offset;
            const float decay = t.decay ? 1.0f - lr * s.weight_decay : 1.0f;
#pragma omp simd
            for (size_t i = 0; i < t.numel; ++i) {
                p[i] *= decay;
                m[i] = s.beta1 * m[i] + (1.0f - s.beta1) * g[i];
                v[i] = s.beta2 * v[i] + (1.0f - s.beta2) * g[i] * g[i];
                p[i] -= step_size * m[i] / (std::sqrt(v[i]) / correction2_sqrt + s.eps);
            }
        }
        return;
    }
    for (const ParameterTensor& t : tensors_) {
        float *p = params + t.offset, *b = m_.data() + t.offset;
        const float* g = grads + t.offset;
        const float wd = t.decay ? s.weight_decay : 0.0f;
#pragma omp simd
        for (size_t i = 0; i < t.numel; ++i) {
            const float d = g[i] + wd * p[i];
            b[i] = s.momentum * b[i] + d;
            p[i] -= lr * (d + s.momentum * b[i]);
        }
    }
}

}  // namespace vitc::train
