#include "io/resnet_weights.hpp"

#include <algorithm>
#include <cstdio>

#include <nlohmann/json.hpp>
#include <set>

#include "errors.hpp"

namespace vitc {

namespace {

using nlohmann::json;

constexpr int kMaxWidth = 1 << 16;
constexpr int kMaxBlocksPerStage = 1024;

std::string list_string(const std::array<int, 4>& v) {
    return "[" + std::to_string(v[0]) + ", " + std::to_string(v[1]) + ", " + std::to_string(v[2]) + ", " +
           std::to_string(v[3]) + "]";
}

std::string shape_string(const std::vector<int64_t>& shape) {
    TensorInfo t;
    t.shape = shape;
    return t.shape_string();
}

// A required list of four integers in [lo, hi], or `fallback` when absent and one is given.
std::array<int, 4> get_four(const json& j, const char* field, const std::string& file, int lo, int hi,
                            const std::array<int, 4>* fallback) {
    if (!j.contains(field) || j[field].is_null()) {
        if (fallback) return *fallback;
        throw ModelError(file, std::string("field '") + field + "' is missing (a list of 4 integers, one per stage)");
    }
    const json& v = j[field];
    if (!v.is_array() || v.size() != 4)
        throw ModelError(file, std::string("field '") + field + "' must be a list of 4 integers, found " + v.dump());
    std::array<int, 4> out{};
    for (size_t i = 0; i < 4; ++i) {
        if (!v[i].is_number_integer() || v[i].get<int64_t>() < lo || v[i].get<int64_t>() > hi)
            throw ModelError(file, std::string("field '") + field + "'[" + std::to_string(i) + "] = " + v[i].dump() +
                                       " is not an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
        out[i] = v[i].get<int>();
    }
    return out;
}

std::string get_choice(const json& j, const char* field, const std::string& file, const std::string& fallback,
                       const std::vector<std::string>& choices) {
    std::string value = fallback;
    if (j.contains(field) && !j[field].is_null()) {
        if (!j[field].is_string())
            throw ModelError(file, std::string("field '") + field + "' must be a string, found " + j[field].dump());
        value = j[field].get<std::string>();
    }
    for (const std::string& c : choices)
        if (value == c) return value;
    std::string expected;
    for (const std::string& c : choices) expected += (expected.empty() ? "" : " or ") + c;
    throw ModelError(file, std::string("field '") + field + "' = '" + value + "' (expected " + expected + ")");
}

// The one table of ResNet tensor names. torchvision's (which timm and vitc share) and
// transformers' ResNetForImageClassification: a block prefix is printf'ed with the stage and the
// block index, a convolution / BatchNorm name with its index within the block.
struct ResNetNames {
    const char* stem_conv;
    const char* stem_bn;
    const char* block;  // e.g. "layer%d.%d." with stages counted from stage_base
    int stage_base;
    const char* conv;   // e.g. "conv%d", counted from conv_base
    const char* bn;
    int conv_base;
    const char* downsample_conv;
    const char* downsample_bn;
    const char* fc;
};
constexpr ResNetNames kNamings[] = {
    {"conv1", "bn1", "layer%d.%d.", 1, "conv%d", "bn%d", 1, "downsample.0", "downsample.1", "fc"},
    {"resnet.embedder.embedder.convolution", "resnet.embedder.embedder.normalization",
     "resnet.encoder.stages.%d.layers.%d.", 0, "layer.%d.convolution", "layer.%d.normalization", 0,
     "shortcut.convolution", "shortcut.normalization", "classifier.1"},
};

const ResNetNames& names_of(ResNetNaming naming) {
    return kNamings[naming == ResNetNaming::Torchvision ? 0 : 1];
}

std::string format_name(const char* pattern, int a, int b = 0) {
    char buffer[128];
    std::snprintf(buffer, sizeof buffer, pattern, a, b);
    return buffer;
}

std::string block_prefix(const ResNetNames& n, int stage, int block) {
    return format_name(n.block, stage + n.stage_base, block);
}
std::string conv_name(const ResNetNames& n, int i) { return format_name(n.conv, i + n.conv_base); }
std::string bn_name(const ResNetNames& n, int i) { return format_name(n.bn, i + n.conv_base); }

// Reads tensors by name with exact shapes, remembering which were read so that leftovers (a
// config that describes a different network than the weights) can be reported.
class Reader {
public:
    explicit Reader(const SafetensorsFile& file) : file_(file) {}

    bool has(const std::string& name) const { return file_.contains(name); }

    Tensor read(const std::string& name, const std::vector<int64_t>& expected) {
        const std::vector<int64_t>& found = file_.info(name).shape;  // throws "missing tensor"
        if (found != expected)
            throw ModelError(file_.path(), "tensor '" + name + "' has shape " + shape_string(found) + ", expected " +
                                               shape_string(expected));
        used_.insert(name);
        return Tensor{expected, file_.read_f32(name)};
    }

    // spec.conv.weight [out, in, k, k] and the BatchNorm spec.bn.{weight,bias,running_mean,running_var}.
    ConvBatchNormWeights read_conv_bn(const ConvSpec& spec) {
        ConvBatchNormWeights c;
        c.name = spec.conv;
        c.stride = spec.stride;
        c.padding = spec.padding;
        c.conv_weight = read(spec.conv + ".weight", {spec.out, spec.in, spec.kernel, spec.kernel});
        c.bn_weight = read(spec.bn + ".weight", {spec.out});
        c.bn_bias = read(spec.bn + ".bias", {spec.out});
        c.bn_mean = read(spec.bn + ".running_mean", {spec.out});
        c.bn_var = read(spec.bn + ".running_var", {spec.out});
        for (float v : c.bn_var.values)
            if (!(v >= 0)) throw ModelError(file_.path(), "tensor '" + spec.bn + ".running_var' holds a negative or NaN value");
        return c;
    }

    // The first tensor no part of the configured network read, or "" when there is none.
    std::string unused() const {
        static const std::string kIgnored = "num_batches_tracked";  // a training counter
        for (const auto& [name, info] : file_.tensors()) {
            const bool ignored = name.size() >= kIgnored.size() &&
                                 name.compare(name.size() - kIgnored.size(), kIgnored.size(), kIgnored) == 0;
            if (!ignored && !used_.count(name)) return name;
        }
        return "";
    }

private:
    const SafetensorsFile& file_;
    std::set<std::string> used_;
};

}  // namespace

namespace {

constexpr struct {
    const char* name;
    ResNetBlock block;
    std::array<int, 4> layers;
} kStandardLayouts[] = {
    {"resnet18", ResNetBlock::Basic, {2, 2, 2, 2}},        {"resnet26", ResNetBlock::Bottleneck, {2, 2, 2, 2}},
    {"resnet34", ResNetBlock::Basic, {3, 4, 6, 3}},        {"resnet50", ResNetBlock::Bottleneck, {3, 4, 6, 3}},
    {"resnet101", ResNetBlock::Bottleneck, {3, 4, 23, 3}}, {"resnet152", ResNetBlock::Bottleneck, {3, 8, 36, 3}},
};

// vitc's own fields: block, layers, widths, stem, image_size (required), num_channels, id2label.
void parse_vitc_fields(const json& j, const std::string& file, ResNetConfig& c) {
    c.block = get_choice(j, "block", file, "", {"basic", "bottleneck"}) == "basic" ? ResNetBlock::Basic
                                                                                  : ResNetBlock::Bottleneck;
    c.layers = get_four(j, "layers", file, 1, kMaxBlocksPerStage, nullptr);
    const std::array<int, 4> torchvision_widths{64, 128, 256, 512};
    c.widths = get_four(j, "widths", file, 1, kMaxWidth, &torchvision_widths);
    c.stem = get_choice(j, "stem", file, "imagenet", {"imagenet", "small"}) == "imagenet" ? ResNetStem::ImageNet
                                                                                        : ResNetStem::Small;
    if (!c.image_height)
        throw ModelError(file, "field 'image_size' is missing (the size images are resized to, e.g. 224)");
}

// transformers' ResNetConfig, with its defaults (those of microsoft/resnet-50) for absent fields.
void parse_huggingface_fields(const json& j, const std::string& file, ResNetConfig& c) {
    c.dialect = "huggingface";
    c.naming = ResNetNaming::HuggingFace;
    c.stem = ResNetStem::ImageNet;
    c.block = get_choice(j, "layer_type", file, "bottleneck", {"basic", "bottleneck"}) == "basic"
                  ? ResNetBlock::Basic
                  : ResNetBlock::Bottleneck;
    const std::array<int, 4> default_depths{3, 4, 6, 3}, default_sizes{256, 512, 1024, 2048};
    c.layers = get_four(j, "depths", file, 1, kMaxBlocksPerStage, &default_depths);
    const std::array<int, 4> sizes = get_four(j, "hidden_sizes", file, 1, kMaxWidth, &default_sizes);
    for (int i = 0; i < 4; ++i) {
        if (sizes[i] % c.expansion())
            throw ModelError(file, "hidden_sizes[" + std::to_string(i) + "] = " + std::to_string(sizes[i]) +
                                       " is not a multiple of the bottleneck expansion 4");
        c.widths[i] = sizes[i] / c.expansion();
    }
    const json embedding = j.contains("embedding_size") ? j["embedding_size"] : json(64);
    if (!embedding.is_number_integer() || embedding.get<int64_t>() != c.widths[0])
        throw ModelError(file, "embedding_size = " + embedding.dump() + " differs from the first stage's width " +
                                   std::to_string(c.widths[0]) + " (hidden_sizes[0] / " +
                                   std::to_string(c.expansion()) + "); vitc's ResNet needs them equal");
    get_choice(j, "hidden_act", file, "relu", {"relu"});  // throws for anything else
    for (const char* flag : {"downsample_in_first_stage", "downsample_in_bottleneck"})
        if (j.contains(flag) && !j[flag].is_null() && j[flag] != false)
            throw ModelError(file, std::string("field '") + flag + "' = " + j[flag].dump() +
                                       " is not supported (only torchvision's layout, false)");
}

std::string base_architecture(const std::string& name) {  // timm's "resnet50.a1_in1k" -> "resnet50"
    return name.substr(0, name.find('.'));
}

}  // namespace

bool standard_resnet_layout(const std::string& name, ResNetBlock* block, std::array<int, 4>* layers) {
    for (const auto& s : kStandardLayouts)
        if (name == s.name) {
            *block = s.block;
            *layers = s.layers;
            return true;
        }
    return false;
}

bool is_resnet_config(const json& j) {
    if (!j.is_object()) return false;
    if (j.contains("model_type")) return j["model_type"] == "resnet";
    return j.contains("architecture") && j["architecture"].is_string() &&
           j["architecture"].get<std::string>().rfind("resnet", 0) == 0;
}

ResNetConfig parse_resnet_config(const json& j, const std::string& file) {
    if (!j.is_object()) throw ModelError(file, "must hold a JSON object");
    // image_size, num_channels and id2label mean what they mean in a Hugging Face config (and a
    // timm config's num_classes, label_names and pretrained_cfg.input_size what they mean for a
    // timm ViT): read them with the same checks. hidden_act is a ViT's GELU there; ResNets' is read below.
    json shared_fields = j;
    shared_fields.erase("hidden_act");
    const ViTConfig shared = parse_vit_config(shared_fields, file);
    ResNetConfig c;
    c.num_channels = shared.num_channels;
    c.image_height = shared.image_height;
    c.image_width = shared.image_width;
    c.labels = shared.labels;
    c.architecture = shared.architecture;
    if (j.contains("block") || j.contains("layers")) {
        parse_vitc_fields(j, file, c);
    } else if (j.contains("model_type")) {
        parse_huggingface_fields(j, file, c);
    } else {  // timm: the tensors tell the shape; the architecture's name is checked against them
        c.dialect = "timm";
        c.infer_shape = true;
    }
    return c;
}

int64_t count_parameters(const ResNetWeights& w) {
    const auto conv_bn = [](const ConvBatchNormWeights& c) {  // BN running statistics are buffers
        return c.conv_weight.numel() + c.bn_weight.numel() + c.bn_bias.numel();
    };
    int64_t n = conv_bn(w.stem) + w.fc_weight.numel() + w.fc_bias.numel();
    for (const ResNetBlockWeights& b : w.blocks) {
        for (const auto& c : b.convs) n += conv_bn(c);
        if (b.has_downsample) n += conv_bn(b.downsample);
    }
    return n;
}

std::string resnet_stem_weight_name(ResNetNaming naming) { return std::string(names_of(naming).stem_conv) + ".weight"; }
std::string resnet_fc_name(ResNetNaming naming) { return names_of(naming).fc; }

ResNetSpec resnet_spec(const ResNetConfig& config) {
    const ResNetNames& n = names_of(config.naming);
    const bool imagenet_stem = config.stem == ResNetStem::ImageNet;
    ResNetSpec spec;
    spec.stem = {n.stem_conv, n.stem_bn, config.widths[0], config.num_channels, imagenet_stem ? 7 : 3,
                 imagenet_stem ? 2 : 1, imagenet_stem ? 3 : 1};
    int64_t in = config.widths[0];
    for (int stage = 0; stage < 4; ++stage) {
        const int64_t planes = config.widths[stage], out = planes * config.expansion();
        for (int b = 0; b < config.layers[stage]; ++b) {
            ResNetBlockSpec block;
            block.prefix = block_prefix(n, stage, b);
            const std::string& p = block.prefix;
            const auto conv = [&](int i, int64_t o, int64_t c, int64_t k, int s, int pad) {
                block.convs.push_back({p + conv_name(n, i), p + bn_name(n, i), o, c, k, s, pad});
            };
            const int stride = (b == 0 && stage > 0) ? 2 : 1;
            if (config.block == ResNetBlock::Basic) {
                conv(0, planes, in, 3, stride, 1);
                conv(1, planes, planes, 3, 1, 1);
            } else {  // torchvision v1.5: the stride sits on the 3x3 convolution
                conv(0, planes, in, 1, 1, 0);
                conv(1, planes, planes, 3, stride, 1);
                conv(2, out, planes, 1, 1, 0);
            }
            block.has_downsample = stride != 1 || in != out;
            if (block.has_downsample)
                block.downsample = {p + n.downsample_conv, p + n.downsample_bn, out, in, 1, stride, 0};
            spec.blocks.push_back(std::move(block));
            in = out;
        }
    }
    return spec;
}

void infer_resnet_shape(const std::map<std::string, std::vector<int64_t>>& shapes, ResNetConfig& config,
                        const std::string& file) {
    const ResNetNames& n = names_of(config.naming);
    const auto shape_of = [&](const std::string& name) {
        const auto it = shapes.find(name);
        return it == shapes.end() ? nullptr : &it->second;
    };
    const std::string stem_name = std::string(n.stem_conv) + ".weight";
    const std::vector<int64_t>* stem = shape_of(stem_name);
    if (!stem)
        throw ModelError(file, shape_of(std::string(n.stem_conv) + ".0.weight")
                                   ? "tensor '" + stem_name + ".0.weight' is a deep stem (timm's resnet*d, *t); "
                                                              "vitc reads torchvision's single-convolution stem"
                                   : "missing tensor '" + stem_name + "' (the ResNet stem convolution)");
    if (stem->size() != 4 || (*stem)[2] != (*stem)[3] || ((*stem)[2] != 7 && (*stem)[2] != 3))
        throw ModelError(file, "tensor '" + stem_name + "' has shape " + shape_string(*stem) +
                                   ", expected [width, channels, 7, 7] (ImageNet stem) or [width, channels, 3, 3]");
    config.stem = (*stem)[2] == 7 ? ResNetStem::ImageNet : ResNetStem::Small;
    if ((*stem)[1] < 1 || (*stem)[1] > 4)
        throw ModelError(file, "tensor '" + stem_name + "' takes " + std::to_string((*stem)[1]) +
                                   " channels; images have 1 to 4");
    config.num_channels = static_cast<int>((*stem)[1]);
    for (int stage = 0; stage < 4; ++stage) {
        int blocks = 0;
        while (blocks < kMaxBlocksPerStage && shape_of(block_prefix(n, stage, blocks) + conv_name(n, 0) + ".weight"))
            ++blocks;
        const std::string first = block_prefix(n, stage, 0) + conv_name(n, 0) + ".weight";
        if (!blocks) throw ModelError(file, "missing tensor '" + first + "' (stage " + std::to_string(stage + 1) + ")");
        config.layers[stage] = blocks;
        const std::vector<int64_t>& shape = *shape_of(first);
        if (shape.size() != 4 || shape[0] < 1 || shape[0] > kMaxWidth)
            throw ModelError(file, "tensor '" + first + "' has shape " + shape_string(shape) + ", expected [width, in, k, k]");
        config.widths[stage] = static_cast<int>(shape[0]);
    }
    config.block = shape_of(block_prefix(n, 0, 0) + conv_name(n, 2) + ".weight") ? ResNetBlock::Bottleneck
                                                                                  : ResNetBlock::Basic;
}

ResNetWeights load_resnet_weights(const SafetensorsFile& file, ResNetConfig& config) {
    const std::string& path = file.path();
    Reader reader(file);
    const ResNetNames& n = names_of(config.naming);
    const std::string fc = n.fc, said = config.dialect == "huggingface" ? "\"layer_type\": " : "\"block\": ";
    if (config.infer_shape) {
        std::map<std::string, std::vector<int64_t>> shapes;
        for (const auto& [name, info] : file.tensors()) shapes[name] = info.shape;
        infer_resnet_shape(shapes, config, path);
        ResNetBlock block;
        std::array<int, 4> layers;
        const std::string arch = base_architecture(config.architecture);
        if (standard_resnet_layout(arch, &block, &layers) && (block != config.block || layers != config.layers))
            throw ModelError(path, "the weights hold a ResNet with " +
                                       std::string(config.block == ResNetBlock::Basic ? "basic" : "bottleneck") +
                                       " blocks " + list_string(config.layers) + ", but config.json names '" +
                                       config.architecture + "' (" + (block == ResNetBlock::Basic ? "basic" : "bottleneck") +
                                       " blocks " + list_string(layers) + ")");
    }
    const int64_t expansion = config.expansion();

    const std::string stem_name = std::string(n.stem_conv) + ".weight";
    const std::vector<int64_t>& stem_shape = file.info(stem_name).shape;
    if (stem_shape.size() != 4)
        throw ModelError(path, "tensor '" + stem_name + "' has shape " + shape_string(stem_shape) +
                                   ", expected [widths[0], channels, k, k]");
    if (config.num_channels == 0) config.num_channels = static_cast<int>(stem_shape[1]);
    const ResNetSpec spec = resnet_spec(config);

    ResNetWeights w;
    w.stem = reader.read_conv_bn(spec.stem);
    for (const ResNetBlockSpec& b : spec.blocks) {
        const std::string& p = b.prefix;
        const std::string block_name = p.substr(0, p.size() - 1);
        const std::string conv3 = p + conv_name(n, 2) + ".weight", downsample = p + n.downsample_conv + ".weight";
        if (config.block == ResNetBlock::Basic && reader.has(conv3))
            throw ModelError(path, "tensor '" + conv3 + "' belongs to a bottleneck block, but config.json says " + said +
                                       "\"basic\"");
        if (config.block == ResNetBlock::Bottleneck && !reader.has(conv3))
            throw ModelError(path, "missing tensor '" + conv3 + "' (config.json says " + said + "\"bottleneck\")");
        ResNetBlockWeights block;
        for (const ConvSpec& c : b.convs) block.convs.push_back(reader.read_conv_bn(c));
        block.has_downsample = b.has_downsample;
        const ConvSpec& first = b.convs.front();
        int stride = 1;  // the block's: on conv1 (basic) or conv2 (bottleneck)
        for (const ConvSpec& c : b.convs) stride = std::max(stride, c.stride);
        const int64_t out = b.convs.back().out;
        if (reader.has(downsample) != block.has_downsample)
            throw ModelError(path, block.has_downsample
                                       ? "missing tensor '" + downsample + "': block " + block_name +
                                             " changes the shape (" + std::to_string(first.in) + " -> " +
                                             std::to_string(out) + " channels, stride " + std::to_string(stride) +
                                             ") and needs a projection"
                                       : "tensor '" + downsample + "' is unexpected: block " + block_name +
                                             " keeps its shape, so torchvision has no downsample there");
        if (block.has_downsample) block.downsample = reader.read_conv_bn(b.downsample);
        w.blocks.push_back(std::move(block));
    }
    for (int stage = 0; stage < 4; ++stage) {
        const std::string extra = block_prefix(n, stage, config.layers[stage]) + conv_name(n, 0) + ".weight";
        if (reader.has(extra))
            throw ModelError(path, "tensor '" + extra + "' exists, but config.json says layers = " +
                                       list_string(config.layers) + " (" + std::to_string(config.layers[stage]) +
                                       " blocks in stage " + std::to_string(stage + 1) + ")");
    }

    const int64_t F = config.features();
    const std::vector<int64_t>& fc_shape = file.info(fc + ".weight").shape;
    if (fc_shape.size() != 2 || fc_shape[1] != F)
        throw ModelError(path, "tensor '" + fc + ".weight' has shape " + shape_string(fc_shape) + ", expected [classes, " +
                                   std::to_string(F) + "] (widths[3] x " + std::to_string(expansion) + ")");
    const int64_t K = fc_shape[0];
    if (config.labels.empty())
        for (int64_t k = 0; k < K; ++k) config.labels.push_back("class_" + std::to_string(k));
    if (static_cast<int64_t>(config.labels.size()) != K)
        throw ModelError(path, "config has " + std::to_string(config.labels.size()) + " labels, but '" + fc + ".weight' has " +
                                   std::to_string(K) + " rows");
    w.fc_weight = reader.read(fc + ".weight", {K, F});
    w.fc_bias = reader.read(fc + ".bias", {K});
    w.parameters = count_parameters(w);

    if (const std::string name = reader.unused(); !name.empty())
        throw ModelError(path, "tensor '" + name + "' is not part of the network config.json describes (block " +
                                   (config.block == ResNetBlock::Basic ? "basic" : "bottleneck") + ", layers " +
                                   list_string(config.layers) + ")");
    return w;
}

ViTConfig preprocessing_fields(const ResNetConfig& config) {
    ViTConfig v;
    v.image_height = config.image_height;
    v.image_width = config.image_width;
    v.num_channels = config.num_channels;
    return v;
}

Preprocessing default_resnet_preprocessing(const ResNetConfig& config) {
    Preprocessing p = default_preprocessing(preprocessing_fields(config));
    if (config.num_channels == 3) {
        p.mean = {0.485f, 0.456f, 0.406f};
        p.std = {0.229f, 0.224f, 0.225f};
    } else {
        p.mean.assign(config.num_channels, 0.449f);
        p.std.assign(config.num_channels, 0.226f);
    }
    return p;
}

Preprocessing resnet_preprocessing(ResNetConfig& config, const json& config_json, const std::string& config_file,
                                   const std::string& preprocessor_file) {
    const bool sized = config.image_height > 0;
    if (!sized) config.image_height = config.image_width = 224;  // torchvision's and timm's, for the defaults
    Preprocessing p;
    if (!preprocessor_file.empty()) {
        const json j = read_json_file(preprocessor_file);
        p = parse_preprocessor_config(j, preprocessor_file, preprocessing_fields(config));
        // transformers' ConvNext image processor (microsoft/resnet-*): below 384 pixels, resize the
        // shorter side to shortest_edge / crop_pct and centre-crop shortest_edge; from 384, warp.
        if (j.contains("crop_pct") && !j["crop_pct"].is_null() && p.resize == Preprocessing::Resize::ShortestEdge &&
            !p.crop_height) {
            const double crop_pct = j["crop_pct"].is_number() ? j["crop_pct"].get<double>() : -1.0;
            if (!(crop_pct > 0.05 && crop_pct <= 1.0))
                throw ModelError(preprocessor_file, "field 'crop_pct' = " + j["crop_pct"].dump() + " is not in (0.05, 1]");
            const int size = p.shortest_edge;
            if (size < 384) {
                p.shortest_edge = static_cast<int>(size / crop_pct);  // Python's int(): truncation
                p.crop_height = p.crop_width = size;
            } else {
                p.resize = Preprocessing::Resize::Exact;
                p.resize_height = p.resize_width = size;
            }
        }
    } else if (config.dialect == "timm" && config_json.contains("pretrained_cfg")) {
        p = parse_timm_pretrained_cfg(config_json, config_file, preprocessing_fields(config));
    } else {
        p = default_resnet_preprocessing(config);
    }
    if (!sized) {
        config.image_height = p.output_height();
        config.image_width = p.output_width();
    }
    return p;
}

}  // namespace vitc
