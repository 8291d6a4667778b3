#pragma once
// Softmax cross-entropy with label smoothing, as torch.nn.functional.cross_entropy computes it:
//   q = (1 - eps) onehot(label) + eps / K,   loss = mean over images of -sum_k q_k log softmax(z)_k
//   dloss/dz = (softmax(z) - q) / N
// With a teacher's top-1 per image (hard-label distillation, train/distillation.hpp) the target
// becomes (1 - w) q + w onehot(teacher): the same as (1 - w) CE(z, q) + w CE(z, teacher).
#include <cstdint>

namespace vitc::train {

struct LossResult {
    double loss = 0;  // mean over the batch
    int correct = 0;  // images whose largest logit is their label
};

struct TeacherTargets {
    const int* top1 = nullptr;  // [N] in [0, K); null: no distillation
    float weight = 0;           // w in [0, 1]
};

// logits [N, K], labels [N] in [0, K). dlogits [N, K] is written unless null. `correct` counts
// the true labels, never the teacher's.
LossResult cross_entropy(const float* logits, const int* labels, int64_t N, int64_t K, float label_smoothing,
                         float* dlogits, const TeacherTargets& teacher = {});

}  // namespace vitc::train
