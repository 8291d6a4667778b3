#pragma once
// Class activation map (Zhou et al., 2016, "Learning Deep Features for Discriminative
// Localization"): for a CNN that ends in global average pooling and one linear layer,
//
//   logit[k] = b[k] + sum_f W[k, f] * mean_yx features[f, y, x] = b[k] + mean_yx CAM_k[y, x]
//   CAM_k[y, x] = sum_f W[k, f] * features[f, y, x]
//
// so CAM_k says where in the last feature map the evidence for class k lies.
//
// Grad-CAM (Selvaraju et al., 2017, "Grad-CAM: Visual Explanations from Deep Networks via
// Gradient-based Localization") generalises it to any layer A [F, h, w] before the head:
//
//   alpha_k[f]       = mean_yx d logit[k] / d A[f, y, x]     (how much feature f matters to k)
//   GradCAM_k[y, x]  = relu(sum_f alpha_k[f] A[f, y, x])
//
// On the last feature map alpha_k = W[k] / (h w), so Grad-CAM there is CAM / (h w), clipped at 0.
// An earlier stage has a finer grid (twice the side per stage) at the price of a backward pass
// through the later stages (explain/plain_resnet.hpp).
#include <cstdint>
#include <vector>

namespace vitc {

// features [F, h, w] of one image and the classifier's row for the class, class_weights [F];
// returns the raw map [h * w] (not normalised, no bias).
std::vector<float> class_activation_map(const float* features, int64_t channels, int64_t height, int64_t width,
                                        const float* class_weights);

// activation and gradient: [F, h, w] each, row-major; returns the map [h * w] (not normalised).
std::vector<float> grad_cam(const std::vector<float>& activation, const std::vector<float>& gradient, int64_t channels,
                            int64_t height, int64_t width);

// (v - min) / (max - min) for display; a constant map becomes all zeros.
std::vector<float> min_max_normalized(const std::vector<float>& values);

}  // namespace vitc
