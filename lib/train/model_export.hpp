#pragma once
// Writes a trained ViT as a model directory vitc's loader reads (classify, batch, info, ...):
//   config.json               the architecture in Hugging Face ViTConfig fields, id2label/label2id
//   model.safetensors         the weights under timm's names (train/vit_train.hpp's layout)
//   preprocessor_config.json  resize to the training size, rescale 1/255, the training mean/std
#include <string>
#include <vector>

#include "train/vit_train.hpp"

namespace vitc::train {

void write_vit_model_directory(const std::string& directory, const ViTArchitecture& arch,
                               const ParameterLayout& layout, const float* parameters, const std::vector<float>& mean,
                               const std::vector<float>& std);

// config.json's contents for the architecture (also stored in checkpoints).
std::string architecture_json(const ViTArchitecture& arch);

}  // namespace vitc::train
