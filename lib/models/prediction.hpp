#pragma once
// A model's answer for one image, in label order: the logits, their softmax, and the top k.
#include <vector>

namespace vitc {

struct Prediction {
    std::vector<float> logits;
    std::vector<float> probabilities;  // softmax(logits)
};

struct Ranked {
    int index;
    float probability;
};

// The k most probable classes, best first.
std::vector<Ranked> top_k(const Prediction& prediction, int k);
std::vector<float> softmax(const std::vector<float>& logits);

}  // namespace vitc
