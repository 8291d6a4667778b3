#include "train/cross_entropy.hpp"

#include <cmath>

namespace vitc::train {

LossResult cross_entropy(const float* logits, const int* labels, int64_t N, int64_t K, float eps, float* dlogits,
                         const TeacherTargets& teacher) {
    const double w = teacher.top1 ? teacher.weight : 0.0;
    LossResult r;
    for (int64_t n = 0; n < N; ++n) {
        const float* z = logits + n * K;
        int64_t best = 0;
        for (int64_t k = 1; k < K; ++k)
            if (z[k] > z[best]) best = k;
        if (best == labels[n]) ++r.correct;
        // log softmax in double: z - max - log(sum exp(z - max))
        double sum = 0;
        for (int64_t k = 0; k < K; ++k) sum += std::exp(static_cast<double>(z[k]) - z[best]);
        const double log_sum = std::log(sum) + z[best];
        double loss = 0;
        for (int64_t k = 0; k < K; ++k) {
            double target = (k == labels[n] ? 1.0 - eps : 0.0) + eps / static_cast<double>(K);
            if (teacher.top1) target = (1.0 - w) * target + (k == teacher.top1[n] ? w : 0.0);
            const double log_p = z[k] - log_sum;
            loss -= target * log_p;
            if (dlogits) dlogits[n * K + k] = static_cast<float>((std::exp(log_p) - target) / static_cast<double>(N));
        }
        r.loss += loss;
    }
    r.loss /= static_cast<double>(N);
    return r;
}

}  // namespace vitc::train
