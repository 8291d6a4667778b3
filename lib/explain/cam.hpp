#pragma once
// Class activation map (Zhou et al., 2016, "Learning Deep Features for Discriminative
// Localization"): for a CNN that ends in global average pooling and one linear layer,
//
//   logit[k] = b[k] + sum_f W[k, f] * mean_yx features[f, y, x] = b[k] + mean_yx CAM_k[y, x]
//   CAM_k[y, x] = sum_f W[k, f] * features[f, y, x]
//
// so CAM_k says where in the last feature map the evidence for class k lies.
#include <cstdint>
#include <vector>

namespace vitc {

// features [F, h, w] of one image and the classifier's row for the class, class_weights [F];
// returns the raw map [h * w] (not normalised, no bias).
std::vector<float> class_activation_map(const float* features, int64_t channels, int64_t height, int64_t width,
                                        const float* class_weights);

// (v - min) / (max - min) for display; a constant map becomes all zeros.
std::vector<float> min_max_normalized(const std::vector<float>& values);

}  // namespace vitc
