#include "train/model_export.hpp"

#include "io/model_directory.hpp"
#include "tasks/atomic_file.hpp"

namespace vitc::train {

namespace {

void write_text(const std::string& path, const std::string& text) {
    AtomicFile file(path);
    file.stream() << text;
    file.commit();
}

}  // namespace

nlohmann::json vit_config_json(const ViTArchitecture& arch) {
    const ViTConfig& c = arch.config;
    nlohmann::json config = {{"model_type", "vit"},
            {"architectures", {"ViTForImageClassification"}},
            {"hidden_size", c.hidden_size},
            {"num_hidden_layers", c.num_layers},
            {"num_attention_heads", c.num_heads},
            {"intermediate_size", c.intermediate_size},
            {"hidden_act", "gelu"},
            {"layer_norm_eps", c.layer_norm_eps},
            {"image_size", {c.image_height, c.image_width}},
            {"patch_size", c.patch_size},
            {"num_channels", c.num_channels},
            {"qkv_bias", true},
            {"pooling", c.pooling == Pooling::Cls ? "cls" : "mean"},
            {"position_embedding_type", c.position_embedding == PositionEmbeddingType::Learned ? "learned" : "sincos2d"},
            {"class_token", arch.class_token}};
    // Each extension only when set: this JSON is also the architecture a checkpoint records, and checkpoints
    // written before the field existed must still resume.
    if (c.shifted_patches) config["shifted_patch_tokens"] = true;
    if (c.locality_attention) config["locality_self_attention"] = true;
    return config;
}

void write_trained_model_directory(const std::string& directory, const std::vector<TensorToWrite>& tensors,
                                   nlohmann::json config, const std::vector<std::string>& labels, int height,
                                   int width, const std::vector<float>& mean, const std::vector<float>& std) {
    write_safetensors(weights_path(directory), tensors);
    const nlohmann::json preprocessor = {{"do_resize", true},
                                         {"size", {{"height", height}, {"width", width}}},
                                         {"resample", 2},
                                         {"do_rescale", true},
                                         {"rescale_factor", 1.0 / 255.0},
                                         {"do_normalize", true},
                                         {"image_mean", mean},
                                         {"image_std", std}};
    write_text(preprocessor_path(directory), preprocessor.dump(2) + "\n");
    nlohmann::json id2label = nlohmann::json::object(), label2id = nlohmann::json::object();
    for (size_t i = 0; i < labels.size(); ++i) {
        id2label[std::to_string(i)] = labels[i];
        label2id[labels[i]] = i;
    }
    config["id2label"] = id2label;
    config["label2id"] = label2id;
    write_text(config_path(directory), config.dump(2) + "\n");
}

}  // namespace vitc::train
