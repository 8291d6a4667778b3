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

// The standard shapes by name: "vit-ti16", "vit-s16", "vit-b16", "vit-b32", "vit-l16", "vit-l32",
// "vit-h14", or torchvision's spelling ("vit_b_16"); false when unknown.
struct StandardViTShape {
    int hidden, layers, heads, patch;
};
bool standard_vit_shape(const std::string& arch, StandardViTShape* shape);

// A tensor of the given shape with values drawn from N(mean, std_dev^2).
Tensor random_tensor(std::vector<int64_t> shape, std::mt19937& rng, float std_dev, float mean = 0.0f);

}  // namespace vitc
