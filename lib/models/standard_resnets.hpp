#pragma once
// torchvision's ResNet-18, -34 and -50 (He et al. 2016) with random weights, for benchmarks.
#include <memory>
#include <string>
#include <vector>

#include "models/resnet.hpp"

namespace vitc {

// "resnet18", "resnet34", "resnet50": ImageNet stem, 1000 classes, image_size x image_size input.
std::unique_ptr<ResNetModel> make_standard_resnet(const std::string& arch, Precision precision, int image_size = 224);

}  // namespace vitc
