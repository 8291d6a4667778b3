#pragma once
// Optimisers on the one parameter buffer, in f32 master weights, written from PyTorch's
// documented update rules so that the same steps give the same losses:
//   AdamW (torch.optim.AdamW): p -= lr wd p (decoupled; only tensors marked `decay`);
//     m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;
//     p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
//   SGD with Nesterov momentum (torch.optim.SGD(nesterov=True)): g += wd p (only `decay`);
//     b = mu b + g;  p -= lr (g + mu b)
// and the pieces around a step: the learning-rate schedule and clipping by global norm.
#include <cstdint>
#include <string>
#include <vector>

#include "train/parameters.hpp"

namespace vitc::train {

enum class OptimizerKind { AdamW, SGD };

struct OptimizerSettings {
    OptimizerKind kind = OptimizerKind::AdamW;
    float lr = 1e-3f;          // peak learning rate
    float weight_decay = 0.05f;
    float beta1 = 0.9f, beta2 = 0.999f, eps = 1e-8f;  // AdamW
    float momentum = 0.9f;                             // SGD
    float clip_norm = 1.0f;    // 0: no clipping
};

// Linear warm-up over `warmup` steps, then cosine decay to 0 at `total`:
//   step < warmup: lr (step + 1) / warmup;  else lr/2 (1 + cos(pi (step - warmup) / (total - warmup)))
float scheduled_learning_rate(float lr, int64_t step, int64_t warmup, int64_t total);

// Scales grads [n] so that their L2 norm is at most max_norm (as clip_grad_norm_, with its 1e-6);
// returns the norm before clipping.
double clip_by_global_norm(float* grads, size_t n, float max_norm);

class Optimizer {
public:
    Optimizer(const ParameterLayout& layout, OptimizerSettings settings);

    // One update of params with grads (both laid out by `layout`) at learning rate lr.
    void step(float* params, const float* grads, float lr);

    const OptimizerSettings& settings() const { return settings_; }
    int64_t steps() const { return t_; }
    // The state a checkpoint must keep: the step count and the moment buffers.
    std::vector<float>& first_moment() { return m_; }    // AdamW m, SGD momentum buffer
    std::vector<float>& second_moment() { return v_; }   // AdamW v (empty for SGD)
    void set_steps(int64_t t) { t_ = t; }

private:
    std::vector<ParameterTensor> tensors_;
    OptimizerSettings settings_;
    std::vector<float> m_, v_;
    int64_t t_ = 0;
};

}  // namespace vitc::train
