#pragma once
// Writes a trained model as a model directory vitc's loader reads (classify, batch, info, ...):
//   config.json               the architecture (Hugging Face ViTConfig fields, or vitc's ResNet
//                             fields), id2label/label2id from the training folder's classes
//   model.safetensors         the weights under the names the loader reads
//   preprocessor_config.json  resize to the training size, rescale 1/255, the training mean/std
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "train/safetensors_writer.hpp"
#include "train/vit_train.hpp"

namespace vitc::train {

// The three files, each written atomically. `config` gets id2label and label2id from `labels`.
void write_trained_model_directory(const std::string& directory, const std::vector<TensorToWrite>& tensors,
                                   nlohmann::json config, const std::vector<std::string>& labels, int height,
                                   int width, const std::vector<float>& mean, const std::vector<float>& std);

// config.json's contents for a ViT (without the labels).
nlohmann::json vit_config_json(const ViTArchitecture& arch);

}  // namespace vitc::train
