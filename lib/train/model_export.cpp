#include "train/model_export.hpp"

#include <nlohmann/json.hpp>

#include "io/model_directory.hpp"
#include "tasks/atomic_file.hpp"
#include "train/safetensors_writer.hpp"

namespace vitc::train {

namespace {

void write_text(const std::string& path, const std::string& text) {
    AtomicFile file(path);
    file.stream() << text;
    file.commit();
}

}  // namespace

std::string architecture_json(const ViTArchitecture& arch) {
    const ViTConfig& c = arch.config;
    nlohmann::json j = {{"model_type", "vit"},
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
                        {"position_embedding_type",
                         c.position_embedding == PositionEmbeddingType::Learned ? "learned" : "sincos2d"},
                        {"class_token", arch.class_token}};
    nlohmann::json id2label = nlohmann::json::object(), label2id = nlohmann::json::object();
    for (size_t i = 0; i < c.labels.size(); ++i) {
        id2label[std::to_string(i)] = c.labels[i];
        label2id[c.labels[i]] = i;
    }
    j["id2label"] = id2label;
    j["label2id"] = label2id;
    return j.dump(2) + "\n";
}

void write_vit_model_directory(const std::string& directory, const ViTArchitecture& arch,
                               const ParameterLayout& layout, const float* parameters, const std::vector<float>& mean,
                               const std::vector<float>& std) {
    std::vector<TensorToWrite> tensors;
    for (const ParameterTensor& t : layout.tensors()) tensors.push_back({t.name, t.shape, parameters + t.offset});
    write_safetensors(weights_path(directory), tensors);
    const nlohmann::json preprocessor = {
        {"do_resize", true},
        {"size", {{"height", arch.config.image_height}, {"width", arch.config.image_width}}},
        {"resample", 2},
        {"do_rescale", true},
        {"rescale_factor", 1.0 / 255.0},
        {"do_normalize", true},
        {"image_mean", mean},
        {"image_std", std}};
    write_text(preprocessor_path(directory), preprocessor.dump(2) + "\n");
    write_text(config_path(directory), architecture_json(arch));
}

}  // namespace vitc::train
