#pragma once
// A torchvision checkpoint (io/checkpoint.hpp) to a model directory vitc loads:
//   config.json               ResNet: vitc's fields (block, layers, widths, stem, image_size);
//                             ViT: Hugging Face ViTConfig fields; id2label from the labels given
//   model.safetensors         the float tensors in f32 under torchvision's names (BatchNorm's
//                             num_batches_tracked dropped; ViT mlp.linear_1/2 of torchvision < 0.12
//                             renamed mlp.0/3 as torchvision's own loader does)
//   preprocessor_config.json  torchvision's evaluation transform: resize the shorter side to
//                             size * 256 / 224, centre-crop size, bilinear, ImageNet mean and std
// Sizes come from the tensor shapes and are checked against the standard architecture named
// (block kind and depths for a ResNet; patch size and head size for a ViT).
#include <string>
#include <vector>

namespace vitc {

struct ConvertOptions {
    std::string arch;                 // "resnet18" ... "resnet152", "vit_b_16" ... "vit_h_14"
    std::vector<std::string> labels;  // empty: class_0, class_1, ...; else as many as the head's rows
    int image_size = 0;               // ResNet: 0 = 224; ViT: 0 = from the positional embeddings
    int heads = 0;                    // ViT: 0 = hidden size / the architecture's head size
};

// Writes the directory into a fresh folder beside `out`, loads it back as classify would, then
// renames it to `out` (which must not exist, or be an empty folder). Returns a one-line summary
// of what was written. Throws ModelError (the checkpoint) or Error (the options).
std::string convert_checkpoint(const std::string& checkpoint, const ConvertOptions& options, const std::string& out);

}  // namespace vitc
