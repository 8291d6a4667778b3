#pragma once
// Hyper-parameters and preprocessing read from a model directory's JSON files. Two dialects are
// understood: Hugging Face (config.json with ViTConfig fields, preprocessor_config.json) and a
// timm hub config.json (architecture, num_classes, pretrained_cfg). A value a config does not
// give stays 0 here and is inferred from tensor shapes by the model loader.
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

namespace vitc {

enum class Pooling { Cls, Mean };
enum class PositionEmbeddingType { Learned, SinCos2D };
enum class Interpolation { Nearest, Bilinear, Bicubic };

struct ViTConfig {
    int hidden_size = 0;
    int num_layers = 0;
    int num_heads = 0;
    int intermediate_size = 0;
    int image_height = 0;  // the size the positional embeddings were trained for
    int image_width = 0;
    int patch_size = 0;
    int num_channels = 0;
    float layer_norm_eps = 0;  // 0: the weight scheme's default (HF 1e-12, timm/torchvision 1e-6)
    Pooling pooling = Pooling::Cls;
    PositionEmbeddingType position_embedding = PositionEmbeddingType::Learned;
    // vitc's extension "shifted_patch_tokens" (image/shifted_patches.hpp): each token also sees
    // four half-patch-shifted copies, normalised by a LayerNorm before the patch embedding.
    bool shifted_patches = false;
    // vitc's extension "locality_self_attention" (Lee et al. 2021, LSA): each head scales its
    // scores by a learned temperature exp(t_h) instead of 1/sqrt(d_head), and a token does not
    // attend to itself (the diagonal of Q K^T is masked before the softmax).
    bool locality_attention = false;
    std::string hidden_act = "gelu";
    std::string architecture;    // timm's "architecture" or HF's architectures[0]
    std::vector<std::string> labels;  // index -> name; empty: inferred as "class_N"
};

struct Preprocessing {
    enum class Resize { Exact, ShortestEdge };
    Resize resize = Resize::Exact;
    int resize_height = 0;  // Exact
    int resize_width = 0;
    int shortest_edge = 0;  // ShortestEdge: the shorter side becomes this, aspect kept
    int crop_height = 0;    // 0: no centre crop
    int crop_width = 0;
    Interpolation interpolation = Interpolation::Bilinear;
    bool do_rescale = true;
    float rescale_factor = 1.0f / 255.0f;
    bool do_normalize = true;
    std::vector<float> mean;  // one per channel
    std::vector<float> std;

    // Height and width of the tensor that reaches the model.
    int output_height() const { return crop_height ? crop_height : (resize == Resize::Exact ? resize_height : shortest_edge); }
    int output_width() const { return crop_width ? crop_width : (resize == Resize::Exact ? resize_width : shortest_edge); }
};

// Reads config.json; `file` names it in errors.
ViTConfig parse_vit_config(const nlohmann::json& config, const std::string& file);

// Preprocessing from preprocessor_config.json (Hugging Face image processor fields).
Preprocessing parse_preprocessor_config(const nlohmann::json& config, const std::string& file,
                                        const ViTConfig& model);
// Preprocessing from a timm config.json's pretrained_cfg, or nullopt-like default when absent.
Preprocessing parse_timm_pretrained_cfg(const nlohmann::json& config, const std::string& file,
                                        const ViTConfig& model);
// What a Hugging Face ViT image processor does without a file: resize to image_size, mean/std 0.5.
Preprocessing default_preprocessing(const ViTConfig& model);

// Reads a JSON file; throws ModelError naming the file on I/O or syntax errors.
nlohmann::json read_json_file(const std::string& path);

}  // namespace vitc
