#pragma once
// `vitc train --arch`: a preset name or a config.json, turned into a TrainModel for the data.
//   vit         hidden 64, 6 blocks, 4 heads, MLP 128, patch 4, class token, learned positions
//               (the previous bundled Fashion-MNIST ViT's shape; models/fashion-vit now has hidden 96)
//   vit-tiny    2 blocks of hidden 32, for quick tests
//   resnet      basic blocks [1, 1, 1, 1], widths [16, 32, 64, 128], the small 3x3 stem (the
//               bundled Fashion-MNIST CNN has [2, 2, 2, 2]: models/fashion-cnn/config.json)
//   resnet-tiny the same with widths [4, 8, 8, 16], for quick tests
// A config.json is read in the fields vitc's loader reads ("model_type" picks the family); its
// image size and channels fix the size the data is decoded at. Presets take the data's size.
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "train/dataset.hpp"
#include "train/train_model.hpp"

namespace vitc::train {

std::vector<std::string> architecture_presets();

// The input a config.json fixes (0s for a preset: the data decides).
struct ArchitectureInput {
    int channels = 0, height = 0, width = 0;
};
ArchitectureInput architecture_input(const std::string& arch);

// The model for the data's size, channels and class names. Throws Error naming the preset list
// or the config file's problem.
std::unique_ptr<TrainModel> make_train_model(const std::string& arch, const ImageDataset& data);

// The ViT `arch` (a preset or a config.json) with another patch size, in config.json's fields
// (`vitc study --patch-sizes`). Throws Error for a ResNet, or a patch that does not divide the images.
nlohmann::json architecture_with_patch_size(const std::string& arch, const ImageDataset& data, int patch);

}  // namespace vitc::train
