#include "train/train_models.hpp"

#include <filesystem>

#include "errors.hpp"
#include "train/vit_train_model.hpp"

namespace vitc::train {

namespace fs = std::filesystem;

namespace {

bool is_config_file(const std::string& arch) {
    std::error_code ec;
    return fs::is_regular_file(arch, ec);
}

ViTArchitecture vit_preset(const std::string& name) {
    ViTArchitecture a;
    ViTConfig& c = a.config;
    c.layer_norm_eps = 1e-6f;
    c.pooling = Pooling::Cls;
    c.position_embedding = PositionEmbeddingType::Learned;
    c.patch_size = 4;
    if (name == "vit") {
        c.hidden_size = 64, c.num_layers = 6, c.num_heads = 4, c.intermediate_size = 128;
    } else {  // vit-tiny
        c.hidden_size = 32, c.num_layers = 2, c.num_heads = 2, c.intermediate_size = 64;
    }
    return a;
}

[[noreturn]] void unknown_preset(const std::string& name) {
    std::string names;
    for (const std::string& n : architecture_presets()) names += (names.empty() ? "" : ", ") + n;
    throw Error("--arch '" + name + "' is neither a preset (" + names + ") nor a config.json file");
}

}  // namespace

std::vector<std::string> architecture_presets() { return {"vit", "vit-tiny"}; }

ArchitectureInput architecture_input(const std::string& arch) {
    if (!is_config_file(arch)) return {};
    const ViTArchitecture a = read_architecture(arch);
    return {a.config.num_channels, a.config.image_height, a.config.image_width};
}

std::unique_ptr<TrainModel> make_train_model(const std::string& arch, const ImageDataset& data) {
    ViTArchitecture a;
    if (is_config_file(arch)) {
        a = read_architecture(arch);
    } else {
        if (arch != "vit" && arch != "vit-tiny") unknown_preset(arch);
        a = vit_preset(arch);
        a.config.num_channels = data.channels;
        a.config.image_height = data.height;
        a.config.image_width = data.width;
        if (data.height % a.config.patch_size || data.width % a.config.patch_size)
            throw Error("the images are " + std::to_string(data.width) + "x" + std::to_string(data.height) +
                        ", not divisible into the " + arch + " preset's " + std::to_string(a.config.patch_size) +
                        "-pixel patches; pass --image-size N with N a multiple of " +
                        std::to_string(a.config.patch_size));
    }
    a.config.labels = data.class_names;
    return std::make_unique<ViTTrainModel>(a);
}

}  // namespace vitc::train
