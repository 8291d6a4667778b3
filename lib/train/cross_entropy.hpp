#pragma once
// Softmax cross-entropy with label smoothing, as torch.nn.functional.cross_entropy computes it:
//   q = (1 - eps) onehot(label) + eps / K,   loss = mean over images of -sum_k q_k log softmax(z)_k
//   dloss/dz = (softmax(z) - q) / N
#include <cstdint>

namespace vitc::train {

struct LossResult {
    double loss = 0;  // mean over the batch
    int correct = 0;  // images whose largest logit is their label
};

// logits [N, K], labels [N] in [0, K). dlogits [N, K] is written unless null.
LossResult cross_entropy(const float* logits, const int* labels, int64_t N, int64_t K, float label_smoothing,
                         float* dlogits);

}  // namespace vitc::train
