#include "train/train_models.hpp"

#include <filesystem>

#include "errors.hpp"
#include "io/model_config.hpp"
#include "io/resnet_weights.hpp"
#include "train/resnet_train.hpp"
#include "train/model_export.hpp"
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

bool is_resnet_file(const std::string& arch) { return is_config_file(arch) && is_resnet_config(read_json_file(arch)); }

// resnet: the bundled Fashion-MNIST CNN's widths with one block per stage (models/fashion-cnn has
// two); resnet-tiny: for quick tests.
// Both basic blocks [1, 1, 1, 1] with the small 3x3 stem, at the data's size and channels.
ResNetArchitecture resnet_preset(const std::string& name, const ImageDataset& data) {
    ResNetArchitecture a;
    ResNetConfig& c = a.config;
    c.block = ResNetBlock::Basic;
    c.layers = {1, 1, 1, 1};
    c.widths = name == "resnet" ? std::array<int, 4>{16, 32, 64, 128} : std::array<int, 4>{4, 8, 8, 16};
    c.stem = ResNetStem::Small;
    c.num_channels = data.channels;
    c.image_height = data.height;
    c.image_width = data.width;
    return a;
}

[[noreturn]] void unknown_preset(const std::string& name) {
    std::string names;
    for (const std::string& n : architecture_presets()) names += (names.empty() ? "" : ", ") + n;
    throw Error("--arch '" + name + "' is neither a preset (" + names + ") nor a config.json file");
}

}  // namespace

std::vector<std::string> architecture_presets() { return {"vit", "vit-tiny", "resnet", "resnet-tiny"}; }

ArchitectureInput architecture_input(const std::string& arch) {
    if (!is_config_file(arch)) return {};
    if (is_resnet_file(arch)) {
        const ResNetArchitecture r = read_resnet_architecture(arch);
        return {r.config.num_channels, r.config.image_height, r.config.image_width};
    }
    const ViTArchitecture a = read_architecture(arch);
    return {a.config.num_channels, a.config.image_height, a.config.image_width};
}

namespace {

// The ViT of --arch `arch` (a preset or a config.json) for the data's size, channels and classes.
ViTArchitecture vit_architecture(const std::string& arch, const ImageDataset& data) {
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
    return a;
}

bool is_resnet(const std::string& arch) { return arch == "resnet" || arch == "resnet-tiny" || is_resnet_file(arch); }

}  // namespace

std::unique_ptr<TrainModel> make_train_model(const std::string& arch, const ImageDataset& data) {
    if (is_resnet(arch)) {
        ResNetArchitecture r = is_config_file(arch) ? read_resnet_architecture(arch) : resnet_preset(arch, data);
        r.config.labels = data.class_names;
        return std::make_unique<ResNetTrainModel>(r);
    }
    return std::make_unique<ViTTrainModel>(vit_architecture(arch, data));
}

nlohmann::json architecture_with_patch_size(const std::string& arch, const ImageDataset& data, int patch) {
    if (is_resnet(arch)) throw Error("--patch-sizes varies a ViT's patch size; " + arch + " is a ResNet");
    ViTArchitecture a = vit_architecture(arch, data);
    const int h = a.config.image_height, w = a.config.image_width;
    if (patch < 1 || h % patch || w % patch)
        throw Error("--patch-sizes: " + std::to_string(patch) + " does not divide the " + std::to_string(w) + "x" +
                    std::to_string(h) + " images into whole patches");
    a.config.patch_size = patch;
    check_architecture(a);
    return vit_config_json(a);
}

}  // namespace vitc::train
