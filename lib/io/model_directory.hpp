#pragma once
// A model directory in the Hugging Face layout:
//   config.json              hyper-parameters and labels (HF ViTConfig, or a timm hub config)
//   model.safetensors        weights under Hugging Face, timm or torchvision names
//   preprocessor_config.json optional: resize, crop, mean/std
#include <string>

namespace vitc {

std::string config_path(const std::string& directory);
std::string weights_path(const std::string& directory);
std::string preprocessor_path(const std::string& directory);

}  // namespace vitc
