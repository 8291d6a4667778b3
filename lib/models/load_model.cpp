// load_model (models/model.hpp): a model directory's config.json decides the family; the ViT is
// built here, the ResNet by models/resnet.cpp.
#include <filesystem>
#include <nlohmann/json.hpp>

#include "errors.hpp"
#include "io/model_config.hpp"
#include "io/model_directory.hpp"
#include "io/safetensors.hpp"
#include "io/weight_names.hpp"
#include "models/model.hpp"
#include "models/resnet.hpp"
#include "models/vit.hpp"

namespace vitc {

namespace fs = std::filesystem;

std::unique_ptr<Model> load_model(const std::string& directory, Precision precision) {
    std::error_code ec;
    if (!fs::is_directory(directory, ec))
        throw ModelError(directory, "not a model directory (expected a folder with config.json and model.safetensors)");
    const std::string config_file = config_path(directory);
    if (!fs::exists(config_file, ec)) throw ModelError(config_file, "missing; a model directory needs config.json");
    const nlohmann::json config_json = read_json_file(config_file);

    const std::string model_type = config_json.is_object() && config_json.contains("model_type") &&
                                           config_json["model_type"].is_string()
                                       ? config_json["model_type"].get<std::string>()
                                       : "vit";
    if (is_resnet_config(config_json)) return load_resnet_model(directory, config_json, config_file, precision);
    if (model_type != "vit")
        throw ModelError(config_file, "model_type '" + model_type + "' is not supported (vit, resnet)");

    ViTConfig config = parse_vit_config(config_json, config_file);
    const SafetensorsFile weights_file = SafetensorsFile::open(weights_path(directory));
    const WeightScheme scheme = detect_weight_scheme(weights_file);
    const ViTWeights weights = load_vit_weights(weights_file, scheme, config);

    const std::string preprocessor_file = preprocessor_path(directory);
    Preprocessing preprocessing;
    if (fs::exists(preprocessor_file, ec))
        preprocessing = parse_preprocessor_config(read_json_file(preprocessor_file), preprocessor_file, config);
    else if (config_json.contains("pretrained_cfg"))
        preprocessing = parse_timm_pretrained_cfg(config_json, config_file, config);
    else
        preprocessing = default_preprocessing(config);
    if (preprocessing.output_height() % config.patch_size || preprocessing.output_width() % config.patch_size)
        throw ModelError(fs::exists(preprocessor_file, ec) ? preprocessor_file : config_file,
                         "preprocessing yields " + std::to_string(preprocessing.output_height()) + "x" +
                             std::to_string(preprocessing.output_width()) + " images, not divisible into " +
                             std::to_string(config.patch_size) + "-pixel patches");
    // Refuse inputs a crafted config would blow up: the token limit comes from this machine's
    // memory (activations linear in tokens with the tiled attention kernel) and attention's work.
    const std::string& limit_file = fs::exists(preprocessor_file, ec) ? preprocessor_file : config_file;
    constexpr int kMaxSide = 8192;
    const TokenLimit max_tokens = vit_token_limit(config);
    if (preprocessing.output_height() > kMaxSide || preprocessing.output_width() > kMaxSide)
        throw ModelError(limit_file, "input size " + std::to_string(preprocessing.output_height()) + "x" +
                                         std::to_string(preprocessing.output_width()) + " exceeds " +
                                         std::to_string(kMaxSide) + " pixels per side");
    const int64_t tokens = static_cast<int64_t>(preprocessing.output_height() / config.patch_size) *
                           (preprocessing.output_width() / config.patch_size);
    if (tokens > max_tokens.tokens)
        throw ModelError(limit_file, std::to_string(tokens) + " patches per image exceed the limit of " +
                                         std::to_string(max_tokens.tokens) + " (" + max_tokens.reason + ")");
    return std::make_unique<ViTModel>(std::move(config), std::move(preprocessing), scheme, weights, precision);
}

}  // namespace vitc
