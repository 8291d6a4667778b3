#include "tasks/checkpoint_convert.hpp"

#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "errors.hpp"
#include "io/checkpoint.hpp"
#include "io/model_directory.hpp"
#include "io/resnet_weights.hpp"
#include "models/model.hpp"
#include "models/standard_vits.hpp"
#include "tasks/atomic_file.hpp"
#include "train/safetensors_writer.hpp"

namespace vitc {

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// torchvision's ImageNet weights are evaluated after Resize(256 for 224) + CenterCrop(224), bilinear.
const std::vector<float> kImageNetMean{0.485f, 0.456f, 0.406f}, kImageNetStd{0.229f, 0.224f, 0.225f};

json preprocessor_json(int image_size, int channels) {
    const bool rgb = channels == 3;
    return {{"do_resize", true},
            {"size", {{"shortest_edge", image_size * 256 / 224}}},
            {"do_center_crop", true},
            {"crop_size", {{"height", image_size}, {"width", image_size}}},
            {"resample", 2},
            {"do_rescale", true},
            {"rescale_factor", 1.0 / 255.0},
            {"do_normalize", true},
            {"image_mean", rgb ? kImageNetMean : std::vector<float>(channels, 0.449f)},
            {"image_std", rgb ? kImageNetStd : std::vector<float>(channels, 0.226f)}};
}

void set_labels(json& config, const std::vector<std::string>& labels) {
    json id2label = json::object(), label2id = json::object();
    for (size_t i = 0; i < labels.size(); ++i) {
        id2label[std::to_string(i)] = labels[i];
        label2id[labels[i]] = i;
    }
    config["id2label"] = id2label;
    config["label2id"] = label2id;
}

// The labels given, or class_N; their count must be the head's.
std::vector<std::string> labels_for(const ConvertOptions& options, int64_t classes, const std::string& head) {
    std::vector<std::string> labels = options.labels;
    if (!labels.empty()) {
        if (static_cast<int64_t>(labels.size()) != classes)
            throw Error("the labels file has " + std::to_string(labels.size()) + " labels, but '" + head + "' has " +
                        std::to_string(classes) + " classes");
    } else {
        for (int64_t k = 0; k < classes; ++k) labels.push_back("class_" + std::to_string(k));
    }
    return labels;
}

const std::vector<int64_t>& shape_of(const TorchCheckpoint& c, const std::string& name, size_t dims) {
    if (!c.contains(name))
        throw ModelError(c.path(), "missing tensor '" + name + "' (is --arch right?)");
    const std::vector<int64_t>& s = c.shape(name);
    if (s.size() != dims)
        throw ModelError(c.path(), "tensor '" + name + "' has " + std::to_string(s.size()) + " dimensions, expected " +
                                       std::to_string(dims));
    return s;
}

struct Converted {
    json config;
    json preprocessor;
    std::map<std::string, std::string> renamed;  // checkpoint name -> directory name, when they differ
    std::string description;
};

Converted convert_resnet(const TorchCheckpoint& c, const std::string& arch, const ConvertOptions& options) {
    ResNetConfig config;
    infer_resnet_shape(c.shapes(), config, c.path());
    ResNetBlock block;
    std::array<int, 4> layers;
    if (!standard_resnet_layout(arch, &block, &layers))
        throw Error("unknown --arch '" + arch + "' (resnet18, resnet26, resnet34, resnet50, resnet101, resnet152, "
                    "vit_b_16, vit_b_32, vit_l_16, vit_l_32, vit_h_14)");
    const auto kind = [](ResNetBlock b) { return b == ResNetBlock::Basic ? "basic" : "bottleneck"; };
    if (block != config.block || layers != config.layers)
        throw ModelError(c.path(), "the checkpoint holds a ResNet with " + std::string(kind(config.block)) +
                                       " blocks " + json(config.layers).dump() + ", not " + arch + " (" + kind(block) +
                                       " blocks " + json(layers).dump() + ")");
    const int image_size = options.image_size ? options.image_size : 224;
    if (image_size < 16 || image_size > 4096) throw Error("--image-size must be in [16, 4096]");
    const int64_t classes = shape_of(c, "fc.weight", 2)[0];
    Converted out;
    out.config = {{"model_type", "resnet"},
                  {"architectures", {arch}},
                  {"block", kind(config.block)},
                  {"layers", config.layers},
                  {"widths", config.widths},
                  {"stem", config.stem == ResNetStem::ImageNet ? "imagenet" : "small"},
                  {"num_channels", config.num_channels},
                  {"image_size", image_size}};
    set_labels(out.config, labels_for(options, classes, "fc.weight"));
    out.preprocessor = preprocessor_json(image_size, config.num_channels);
    out.description = arch + ", " + kind(config.block) + " blocks " + json(config.layers).dump() + ", widths " +
                      json(config.widths).dump();
    return out;
}

Converted convert_vit(const TorchCheckpoint& c, const std::string& arch, const ConvertOptions& options) {
    StandardViTShape standard;
    if (!standard_vit_shape(arch, &standard))
        throw Error("unknown --arch '" + arch + "' (vit_b_16, vit_b_32, vit_l_16, vit_l_32, vit_h_14, resnet18, ...)");
    const std::vector<int64_t>& patch = shape_of(c, "conv_proj.weight", 4);
    const int64_t D = patch[0], C = patch[1], P = patch[2];
    if (P != standard.patch || patch[3] != P)
        throw ModelError(c.path(), "tensor 'conv_proj.weight' has " + std::to_string(P) + "-pixel patches; " + arch +
                                       " has " + std::to_string(standard.patch));
    if (c.contains("heads.pre_logits.weight"))
        throw ModelError(c.path(), "tensor 'heads.pre_logits.weight': a representation layer before the head is not supported");
    int64_t depth = 0;
    while (c.contains("encoder.layers.encoder_layer_" + std::to_string(depth) + ".ln_1.weight")) ++depth;
    if (!depth) throw ModelError(c.path(), "missing tensor 'encoder.layers.encoder_layer_0.ln_1.weight'");
    // torchvision before 0.12 named the MLP's layers linear_1 and linear_2; its loader renames them.
    Converted out;
    for (const std::string& name : c.names())
        for (const auto& [old_name, new_name] : {std::pair<const char*, const char*>{"mlp.linear_1.", "mlp.0."},
                                                 {"mlp.linear_2.", "mlp.3."}})
            if (const size_t at = name.find(old_name); at != std::string::npos)
                out.renamed[name] = name.substr(0, at) + new_name + name.substr(at + std::strlen(old_name));
    const std::string fc1 = out.renamed.count("encoder.layers.encoder_layer_0.mlp.linear_1.weight")
                                ? "encoder.layers.encoder_layer_0.mlp.linear_1.weight"
                                : "encoder.layers.encoder_layer_0.mlp.0.weight";
    const int64_t M = shape_of(c, fc1, 2)[0];
    const int64_t head_dim = standard.hidden / standard.heads;
    const int64_t heads = options.heads ? options.heads : D / head_dim;
    if (heads < 1 || D % heads)
        throw Error("hidden size " + std::to_string(D) + " is not a multiple of " + arch + "'s " +
                    std::to_string(head_dim) + "-dimensional heads; give --heads N");
    const std::vector<int64_t>& pos = shape_of(c, "encoder.pos_embedding", 3);
    const auto side = static_cast<int64_t>(std::lround(std::sqrt(static_cast<double>(pos[1] - 1))));
    if (pos[1] < 2 || side * side != pos[1] - 1)
        throw ModelError(c.path(), "tensor 'encoder.pos_embedding' has " + std::to_string(pos[1]) +
                                       " positions, not a class token and a square grid");
    const int64_t image_size = side * P;
    if (options.image_size && options.image_size != image_size)
        throw Error("--image-size " + std::to_string(options.image_size) +
                    " differs from the checkpoint's positional embeddings (" + std::to_string(image_size) + ")");
    const int64_t classes = shape_of(c, "heads.head.weight", 2)[0];
    out.config = {{"model_type", "vit"},
                  {"architectures", {arch}},
                  {"hidden_size", D},
                  {"num_hidden_layers", depth},
                  {"num_attention_heads", heads},
                  {"intermediate_size", M},
                  {"hidden_act", "gelu"},
                  {"layer_norm_eps", 1e-6},
                  {"image_size", image_size},
                  {"patch_size", P},
                  {"num_channels", C},
                  {"pooling", "cls"}};
    set_labels(out.config, labels_for(options, classes, "heads.head.weight"));
    out.preprocessor = preprocessor_json(static_cast<int>(image_size), static_cast<int>(C));
    out.description = arch + ", hidden " + std::to_string(D) + ", " + std::to_string(depth) + " layers, " +
                      std::to_string(heads) + " heads, MLP " + std::to_string(M) + ", patch " + std::to_string(P);
    if (D != standard.hidden || depth != standard.layers)
        out.description += " (not the standard " + arch + "'s hidden " + std::to_string(standard.hidden) + ", " +
                           std::to_string(standard.layers) + " layers: sizes taken from the checkpoint)";
    return out;
}

void write_json(const std::string& path, const json& j) {
    AtomicFile file(path);
    file.stream() << j.dump(2) << "\n";
    file.commit();
}

}  // namespace

std::string convert_checkpoint(const std::string& path, const ConvertOptions& options, const std::string& out) {
    const std::string& arch = options.arch;
    const TorchCheckpoint checkpoint = TorchCheckpoint::open(path);
    std::error_code ec;
    if (fs::exists(out, ec) && !(fs::is_directory(out, ec) && fs::is_empty(out, ec)))
        throw Error(out + ": exists and is not an empty folder; vitc convert does not overwrite");
    const Converted converted = arch.rfind("vit", 0) == 0 ? convert_vit(checkpoint, arch, options)
                                                          : convert_resnet(checkpoint, arch, options);

    // Float tensors in f32 under their (possibly renamed) names; BatchNorm's step counters dropped.
    std::vector<std::vector<float>> values;
    std::vector<train::TensorToWrite> tensors;
    values.reserve(checkpoint.names().size());  // tensors point into values: no reallocation
    for (const std::string& name : checkpoint.names()) {
        if (name.size() >= 19 && name.compare(name.size() - 19, 19, "num_batches_tracked") == 0) continue;
        const DType t = checkpoint.dtype(name);
        if (t != DType::F32 && t != DType::F64 && t != DType::F16 && t != DType::BF16)
            throw ModelError(checkpoint.path(), "tensor '" + name + "' is " + dtype_name(t) + ", not floating point");
        values.push_back(checkpoint.read_f32(name));
        const auto renamed = converted.renamed.find(name);
        tensors.push_back({renamed == converted.renamed.end() ? name : renamed->second, checkpoint.shape(name),
                           values.back().data()});
    }

    // Written into a fresh folder beside `out`, loaded back, then renamed into place.
    const fs::path target = fs::absolute(out);
    const fs::path staging = target.parent_path() / (target.filename().string() + ".partial-" + std::to_string(getpid()));
    fs::create_directories(staging);
    try {
        train::write_safetensors(weights_path(staging.string()), tensors);
        write_json(config_path(staging.string()), converted.config);
        write_json(preprocessor_path(staging.string()), converted.preprocessor);
        const auto model = load_model(staging.string());
        if (fs::exists(target, ec)) fs::remove(target);  // the empty folder checked above
        fs::rename(staging, target);
        const ModelSummary s = model->summary();
        return converted.description + "; " + std::to_string(s.parameters) + " parameters, " +
               std::to_string(model->labels().size()) + " classes, input " + std::to_string(model->num_channels()) +
               "x" + std::to_string(model->preprocessing().output_height()) + "x" +
               std::to_string(model->preprocessing().output_width());
    } catch (...) {
        fs::remove_all(staging, ec);
        throw;
    }
}

}  // namespace vitc
