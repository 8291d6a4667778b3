#include "models/prediction.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace vitc {

std::vector<float> softmax(const std::vector<float>& logits) {
    std::vector<float> p(logits.size());
    if (logits.empty()) return p;
    const float max = *std::max_element(logits.begin(), logits.end());
    double sum = 0;
    for (size_t i = 0; i < logits.size(); ++i) sum += p[i] = std::exp(logits[i] - max);
    for (float& v : p) v = static_cast<float>(v / sum);
    return p;
}

std::vector<Ranked> top_k(const Prediction& prediction, int k) {
    std::vector<int> order(prediction.probabilities.size());
    std::iota(order.begin(), order.end(), 0);
    k = std::clamp(k, 0, static_cast<int>(order.size()));
    std::partial_sort(order.begin(), order.begin() + k, order.end(), [&](int a, int b) {
        return prediction.logits[a] > prediction.logits[b] || (prediction.logits[a] == prediction.logits[b] && a < b);
    });
    std::vector<Ranked> out;
    for (int i = 0; i < k; ++i) out.push_back({order[i], prediction.probabilities[order[i]]});
    return out;
}

}  // namespace vitc
