#pragma once
// Where checkpoint tensor names are mapped to the fields of ViTWeights: one table per naming
// scheme (Hugging Face, timm, torchvision), and the loader that reads them with every shape checked.
#include <string>

#include "io/model_config.hpp"
#include "io/safetensors.hpp"
#include "io/vit_weights.hpp"

namespace vitc {

enum class WeightScheme { HuggingFace, Timm, Torchvision };

const char* weight_scheme_name(WeightScheme scheme);

// Recognises the scheme by its patch-embedding tensor; throws ModelError when none matches.
WeightScheme detect_weight_scheme(const SafetensorsFile& file);

// Completes `config` from tensor shapes where it is silent (hidden size, depth, patch size, ...),
// checks it against every tensor, and reads the weights into f32.
ViTWeights load_vit_weights(const SafetensorsFile& file, WeightScheme scheme, ViTConfig& config);

}  // namespace vitc
