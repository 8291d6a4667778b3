#pragma once
// The standard ViT shapes (Dosovitskiy et al. 2021; DeiT-Ti) with random weights, for
// benchmarks: nothing can be downloaded here, and speed does not depend on the values.
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "models/vit.hpp"

namespace vitc {

// "vit-ti16", "vit-s16", "vit-b16", "vit-l16", "vit-b32"; image_size 224 unless given.
std::unique_ptr<ViTModel> make_standard_vit(const std::string& arch, Precision precision, int image_size = 224,
                                            int patch_size = 0);

// A tensor of the given shape with values drawn from N(mean, std_dev^2).
Tensor random_tensor(std::vector<int64_t> shape, std::mt19937& rng, float std_dev, float mean = 0.0f);

}  // namespace vitc
