#include "io/resnet_weights.hpp"

#include <algorithm>

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

ResNetConfig parse_resnet_config(const json& j, const std::string& file) {
    if (!j.is_object()) throw ModelError(file, "must hold a JSON object");
    // image_size, num_channels and id2label mean what they mean in a Hugging Face config: read
    // them with the same checks.
    const ViTConfig shared = parse_vit_config(j, file);
    ResNetConfig c;
    c.block = get_choice(j, "block", file, "", {"basic", "bottleneck"}) == "basic" ? ResNetBlock::Basic
                                                                                  : ResNetBlock::Bottleneck;
    c.layers = get_four(j, "layers", file, 1, kMaxBlocksPerStage, nullptr);
    const std::array<int, 4> torchvision_widths{64, 128, 256, 512};
    c.widths = get_four(j, "widths", file, 1, kMaxWidth, &torchvision_widths);
    c.stem = get_choice(j, "stem", file, "imagenet", {"imagenet", "small"}) == "imagenet" ? ResNetStem::ImageNet
                                                                                        : ResNetStem::Small;
    c.num_channels = shared.num_channels;
    c.image_height = shared.image_height;
    c.image_width = shared.image_width;
    if (!c.image_height)
        throw ModelError(file, "field 'image_size' is missing (the size images are resized to, e.g. 224)");
    c.labels = shared.labels;
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

ResNetSpec resnet_spec(const ResNetConfig& config) {
    const bool imagenet_stem = config.stem == ResNetStem::ImageNet;
    ResNetSpec spec;
    spec.stem = {"conv1", "bn1", config.widths[0], config.num_channels, imagenet_stem ? 7 : 3, imagenet_stem ? 2 : 1,
                 imagenet_stem ? 3 : 1};
    int64_t in = config.widths[0];
    for (int stage = 0; stage < 4; ++stage) {
        const int64_t planes = config.widths[stage], out = planes * config.expansion();
        for (int b = 0; b < config.layers[stage]; ++b) {
            ResNetBlockSpec block;
            block.prefix = "layer" + std::to_string(stage + 1) + "." + std::to_string(b) + ".";
            const std::string& p = block.prefix;
            const int stride = (b == 0 && stage > 0) ? 2 : 1;
            if (config.block == ResNetBlock::Basic) {
                block.convs.push_back({p + "conv1", p + "bn1", planes, in, 3, stride, 1});
                block.convs.push_back({p + "conv2", p + "bn2", planes, planes, 3, 1, 1});
            } else {  // torchvision v1.5: the stride sits on the 3x3 convolution
                block.convs.push_back({p + "conv1", p + "bn1", planes, in, 1, 1, 0});
                block.convs.push_back({p + "conv2", p + "bn2", planes, planes, 3, stride, 1});
                block.convs.push_back({p + "conv3", p + "bn3", out, planes, 1, 1, 0});
            }
            block.has_downsample = stride != 1 || in != out;
            if (block.has_downsample) block.downsample = {p + "downsample.0", p + "downsample.1", out, in, 1, stride, 0};
            spec.blocks.push_back(std::move(block));
            in = out;
        }
    }
    return spec;
}

ResNetWeights load_resnet_weights(const SafetensorsFile& file, ResNetConfig& config) {
    const std::string& path = file.path();
    Reader reader(file);
    const int64_t expansion = config.expansion();

    const std::vector<int64_t>& stem_shape = file.info("conv1.weight").shape;
    if (stem_shape.size() != 4)
        throw ModelError(path, "tensor 'conv1.weight' has shape " + shape_string(stem_shape) +
                                   ", expected [widths[0], channels, k, k]");
    if (config.num_channels == 0) config.num_channels = static_cast<int>(stem_shape[1]);
    const ResNetSpec spec = resnet_spec(config);

    ResNetWeights w;
    w.stem = reader.read_conv_bn(spec.stem);
    for (const ResNetBlockSpec& b : spec.blocks) {
        const std::string& p = b.prefix;
        const std::string block_name = p.substr(0, p.size() - 1);
        if (config.block == ResNetBlock::Basic && reader.has(p + "conv3.weight"))
            throw ModelError(path, "tensor '" + p + "conv3.weight' belongs to a bottleneck block, but config.json says "
                                                    "\"block\": \"basic\"");
        if (config.block == ResNetBlock::Bottleneck && !reader.has(p + "conv3.weight"))
            throw ModelError(path, "missing tensor '" + p + "conv3.weight' (config.json says \"block\": \"bottleneck\")");
        ResNetBlockWeights block;
        for (const ConvSpec& c : b.convs) block.convs.push_back(reader.read_conv_bn(c));
        block.has_downsample = b.has_downsample;
        const ConvSpec& first = b.convs.front();
        int stride = 1;  // the block's: on conv1 (basic) or conv2 (bottleneck)
        for (const ConvSpec& c : b.convs) stride = std::max(stride, c.stride);
        const int64_t out = b.convs.back().out;
        if (reader.has(p + "downsample.0.weight") != block.has_downsample)
            throw ModelError(path, block.has_downsample
                                       ? "missing tensor '" + p + "downsample.0.weight': block " + block_name +
                                             " changes the shape (" + std::to_string(first.in) + " -> " +
                                             std::to_string(out) + " channels, stride " + std::to_string(stride) +
                                             ") and needs a projection"
                                       : "tensor '" + p + "downsample.0.weight' is unexpected: block " + block_name +
                                             " keeps its shape, so torchvision has no downsample there");
        if (block.has_downsample) block.downsample = reader.read_conv_bn(b.downsample);
        w.blocks.push_back(std::move(block));
    }
    for (int stage = 0; stage < 4; ++stage) {
        const std::string layer = "layer" + std::to_string(stage + 1) + ".";
        const std::string extra = layer + std::to_string(config.layers[stage]) + ".conv1.weight";
        if (reader.has(extra))
            throw ModelError(path, "tensor '" + extra + "' exists, but config.json says layers = " +
                                       list_string(config.layers) + " (" + std::to_string(config.layers[stage]) +
                                       " blocks in " + layer.substr(0, layer.size() - 1) + ")");
    }

    const int64_t F = config.features();
    const std::vector<int64_t>& fc_shape = file.info("fc.weight").shape;
    if (fc_shape.size() != 2 || fc_shape[1] != F)
        throw ModelError(path, "tensor 'fc.weight' has shape " + shape_string(fc_shape) + ", expected [classes, " +
                                   std::to_string(F) + "] (widths[3] x " + std::to_string(expansion) + ")");
    const int64_t K = fc_shape[0];
    if (config.labels.empty())
        for (int64_t k = 0; k < K; ++k) config.labels.push_back("class_" + std::to_string(k));
    if (static_cast<int64_t>(config.labels.size()) != K)
        throw ModelError(path, "config has " + std::to_string(config.labels.size()) + " labels, but 'fc.weight' has " +
                                   std::to_string(K) + " rows");
    w.fc_weight = reader.read("fc.weight", {K, F});
    w.fc_bias = reader.read("fc.bias", {K});
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

}  // namespace vitc
