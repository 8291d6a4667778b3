#include "io/weight_names.hpp"

#include <cmath>

#include "errors.hpp"
#include "image/shifted_patches.hpp"

namespace vitc {

namespace {

// One row per naming scheme. Block names are relative to block_prefix + index + ".".
// Hugging Face stores query/key/value apart; timm and torchvision store them stacked.
struct SchemeNames {
    const char* patch_weight;
    const char* patch_bias;
    const char* class_token;
    const char* position_embedding;
    const char* block_prefix;
    std::vector<const char*> qkv_weight, qkv_bias;
    const char *ln1_weight, *ln1_bias, *proj_weight, *proj_bias, *ln2_weight, *ln2_bias;
    const char *fc1_weight, *fc1_bias, *fc2_weight, *fc2_bias;
    const char *norm_weight, *norm_bias, *head_weight, *head_bias;
    float default_layer_norm_eps;
    // vitc's extensions, written in timm's names; null: none. Shifted patch tokens' LayerNorm,
    // and locality self-attention's log-temperature per head (relative to the block).
    const char *patch_norm_weight = nullptr, *patch_norm_bias = nullptr;
    const char* log_temperature = nullptr;
};

const SchemeNames kHuggingFace{
    "vit.embeddings.patch_embeddings.projection.weight", "vit.embeddings.patch_embeddings.projection.bias",
    "vit.embeddings.cls_token", "vit.embeddings.position_embeddings", "vit.encoder.layer.",
    {"attention.attention.query.weight", "attention.attention.key.weight", "attention.attention.value.weight"},
    {"attention.attention.query.bias", "attention.attention.key.bias", "attention.attention.value.bias"},
    "layernorm_before.weight", "layernorm_before.bias", "attention.output.dense.weight", "attention.output.dense.bias",
    "layernorm_after.weight", "layernorm_after.bias", "intermediate.dense.weight", "intermediate.dense.bias",
    "output.dense.weight", "output.dense.bias",
    "vit.layernorm.weight", "vit.layernorm.bias", "classifier.weight", "classifier.bias", 1e-12f};

const SchemeNames kTimm{
    "patch_embed.proj.weight", "patch_embed.proj.bias", "cls_token", "pos_embed", "blocks.",
    {"attn.qkv.weight"}, {"attn.qkv.bias"},
    "norm1.weight", "norm1.bias", "attn.proj.weight", "attn.proj.bias", "norm2.weight", "norm2.bias",
    "mlp.fc1.weight", "mlp.fc1.bias", "mlp.fc2.weight", "mlp.fc2.bias",
    "norm.weight", "norm.bias", "head.weight", "head.bias", 1e-6f,
    "patch_embed.input_norm.weight", "patch_embed.input_norm.bias", "attn.log_temperature"};

const SchemeNames kTorchvision{
    "conv_proj.weight", "conv_proj.bias", "class_token", "encoder.pos_embedding", "encoder.layers.encoder_layer_",
    {"self_attention.in_proj_weight"}, {"self_attention.in_proj_bias"},
    "ln_1.weight", "ln_1.bias", "self_attention.out_proj.weight", "self_attention.out_proj.bias",
    "ln_2.weight", "ln_2.bias", "mlp.0.weight", "mlp.0.bias", "mlp.3.weight", "mlp.3.bias",
    "encoder.ln.weight", "encoder.ln.bias", "heads.head.weight", "heads.head.bias", 1e-6f};

const SchemeNames& names_of(WeightScheme scheme) {
    switch (scheme) {
        case WeightScheme::HuggingFace: return kHuggingFace;
        case WeightScheme::Timm: return kTimm;
        case WeightScheme::Torchvision: break;
    }
    return kTorchvision;
}

std::string shape_string(const std::vector<int64_t>& shape) {
    TensorInfo t;
    t.shape = shape;
    return t.shape_string();
}

// Reads tensors by name, checking each shape; leading 1-sized dimensions of the file's tensor
// are dropped first, since checkpoints store the class token as [1, 1, D] and so on.
class TensorReader {
public:
    explicit TensorReader(const SafetensorsFile& file) : file_(file) {}

    std::vector<int64_t> shape_of(const std::string& name) const {
        std::vector<int64_t> shape = file_.info(name).shape;
        while (shape.size() > 1 && shape.front() == 1) shape.erase(shape.begin());
        return shape;
    }

    Tensor read(const std::string& name, const std::vector<int64_t>& expected) const {
        const std::vector<int64_t> found = shape_of(name);
        if (found != expected)
            throw ModelError(file_.path(), "tensor '" + name + "' has shape " + shape_string(found) +
                                               ", expected " + shape_string(expected));
        return Tensor{expected, file_.read_f32(name)};
    }

    // Several tensors stacked along their first dimension (query, key, value -> qkv).
    Tensor read_stacked(const std::string& prefix, const std::vector<const char*>& names,
                        std::vector<int64_t> expected) const {
        if (names.size() == 1) return read(prefix + names[0], expected);
        std::vector<int64_t> part = expected;
        part[0] /= static_cast<int64_t>(names.size());
        Tensor out{expected, {}};
        for (const char* n : names) {
            Tensor t = read(prefix + n, part);
            out.values.insert(out.values.end(), t.values.begin(), t.values.end());
        }
        return out;
    }

    bool has(const std::string& name) const { return file_.contains(name); }

private:
    const SafetensorsFile& file_;
};

// Settles a hyper-parameter the config may give and the tensors always imply.
void settle(int& field, int64_t from_tensors, const char* what, const std::string& file) {
    if (field == 0) field = static_cast<int>(from_tensors);
    else if (field != from_tensors)
        throw ModelError(file, std::string("config says ") + what + " = " + std::to_string(field) +
                                   ", but the weights have " + std::to_string(from_tensors));
}

// Standard ViTs (tiny, small, base, large) use 64-dimensional heads; huge uses 80.
int heads_from_architecture(const std::string& arch, int hidden) {
    if (arch.find("huge") != std::string::npos && hidden % 80 == 0) return hidden / 80;
    if (hidden % 64 == 0) return hidden / 64;
    return 0;
}

}  // namespace

const char* weight_scheme_name(WeightScheme scheme) {
    switch (scheme) {
        case WeightScheme::HuggingFace: return "huggingface";
        case WeightScheme::Timm: return "timm";
        case WeightScheme::Torchvision: return "torchvision";
    }
    return "?";
}

WeightScheme detect_weight_scheme(const SafetensorsFile& file) {
    for (WeightScheme s : {WeightScheme::HuggingFace, WeightScheme::Timm, WeightScheme::Torchvision})
        if (file.contains(names_of(s).patch_weight)) return s;
    throw ModelError(file.path(),
                     "no ViT patch embedding found: expected one of '" + std::string(kHuggingFace.patch_weight) +
                         "' (Hugging Face), '" + kTimm.patch_weight + "' (timm) or '" + kTorchvision.patch_weight +
                         "' (torchvision)");
}

ViTWeights load_vit_weights(const SafetensorsFile& file, WeightScheme scheme, ViTConfig& config) {
    const SchemeNames& n = names_of(scheme);
    const std::string& path = file.path();
    const TensorReader reader(file);

    // Hyper-parameters implied by the shapes.
    const std::vector<int64_t> patch_shape = file.info(n.patch_weight).shape;
    if (patch_shape.size() != 4 || patch_shape[2] != patch_shape[3])
        throw ModelError(path, std::string("tensor '") + n.patch_weight + "' has shape " + shape_string(patch_shape) +
                                   ", expected [hidden, channels, patch, patch]");
    settle(config.hidden_size, patch_shape[0], "hidden_size", path);
    // With shifted patch tokens the embedding sees 5 copies of each channel.
    const int64_t copies = config.shifted_patches ? kShiftedCopies : 1;
    if (!config.shifted_patches && n.patch_norm_weight && reader.has(n.patch_norm_weight))
        throw ModelError(path, std::string("the weights have '") + n.patch_norm_weight +
                                   "', a shifted-patch-token ViT's; its config.json must say \"shifted_patch_tokens\": true");
    if (patch_shape[1] % copies)
        throw ModelError(path, std::string("tensor '") + n.patch_weight + "' has shape " + shape_string(patch_shape) +
                                   ", expected [hidden, 5 x channels, patch, patch] for shifted patch tokens");
    settle(config.num_channels, patch_shape[1] / copies, "num_channels", path);
    settle(config.patch_size, patch_shape[2], "patch_size", path);
    const int64_t D = config.hidden_size, C = config.num_channels, P = config.patch_size;
    if (C > 4) throw ModelError(path, "num_channels = " + std::to_string(C) + "; images have 1 to 4 channels");
    if (config.shifted_patches && P < 2)
        throw ModelError(path, "shifted_patch_tokens needs patches of at least 2 pixels (the shift is half a patch)");
    if (config.shifted_patches && !n.patch_norm_weight)
        throw ModelError(path, std::string("shifted_patch_tokens is vitc's extension, stored in timm's names ('") +
                                   kTimm.patch_norm_weight + "'); these weights are in " +
                                   weight_scheme_name(scheme) + "'s");

    int64_t depth = 0;
    while (reader.has(n.block_prefix + std::to_string(depth) + "." + n.ln1_weight)) ++depth;
    if (depth == 0) throw ModelError(path, std::string("no transformer blocks found under '") + n.block_prefix + "0.'");
    if (config.num_layers > depth)
        throw ModelError(path, "config says num_hidden_layers = " + std::to_string(config.num_layers) +
                                   ", but the weights have " + std::to_string(depth) + " blocks");
    settle(config.num_layers, depth, "num_hidden_layers", path);

    const std::string block0 = n.block_prefix + std::string("0.");
    settle(config.intermediate_size, reader.shape_of(block0 + n.fc1_weight).at(0), "intermediate_size", path);
    const int64_t M = config.intermediate_size;

    if (!config.num_heads) config.num_heads = heads_from_architecture(config.architecture, config.hidden_size);
    if (!config.num_heads)
        throw ModelError(path, "the number of attention heads cannot be inferred for hidden size " + std::to_string(D) +
                                   "; set 'num_attention_heads' in config.json");
    if (D % config.num_heads != 0)
        throw ModelError(path, "hidden_size " + std::to_string(D) + " is not divisible by num_attention_heads " +
                                   std::to_string(config.num_heads));
    if (config.layer_norm_eps == 0) config.layer_norm_eps = n.default_layer_norm_eps;
    if (config.locality_attention && !n.log_temperature)
        throw ModelError(path, std::string("locality_self_attention is vitc's extension, stored in timm's names ('") +
                                   kTimm.block_prefix + "0." + kTimm.log_temperature + "'); these weights are in " +
                                   weight_scheme_name(scheme) + "'s");

    ViTWeights w;
    w.patch_weight = reader.read(n.patch_weight, {D, copies * C, P, P});
    w.patch_bias = reader.read(n.patch_bias, {D});
    if (config.shifted_patches) {
        w.patch_norm_weight = reader.read(n.patch_norm_weight, {copies * C * P * P});
        w.patch_norm_bias = reader.read(n.patch_norm_bias, {copies * C * P * P});
    }
    if (reader.has(n.class_token)) w.class_token = reader.read(n.class_token, {D});

    if (config.position_embedding == PositionEmbeddingType::Learned) {
        if (!reader.has(n.position_embedding))
            throw ModelError(path, std::string("missing tensor '") + n.position_embedding +
                                       "' (set position_embedding_type to sincos2d for fixed embeddings)");
        const std::vector<int64_t> shape = reader.shape_of(n.position_embedding);
        const int64_t prefix = w.class_token.empty() ? 0 : 1;
        if (shape.size() != 2 || shape[1] != D || shape[0] <= prefix)
            throw ModelError(path, std::string("tensor '") + n.position_embedding + "' has shape " +
                                       shape_string(shape) + ", expected [tokens, " + std::to_string(D) + "]");
        const int64_t grid_tokens = shape[0] - prefix;
        if (!config.image_height) {  // a square grid is the only one a config can leave implicit
            const auto side = static_cast<int64_t>(std::lround(std::sqrt(static_cast<double>(grid_tokens))));
            if (side * side != grid_tokens)
                throw ModelError(path, "positional embedding has " + std::to_string(grid_tokens) +
                                           " patch positions, not a square grid; set 'image_size' in config.json");
            config.image_height = config.image_width = static_cast<int>(side * P);
        }
        if (config.image_height % P || config.image_width % P)
            throw ModelError(path, "image_size " + std::to_string(config.image_height) + "x" +
                                       std::to_string(config.image_width) + " is not divisible into " +
                                       std::to_string(P) + "-pixel patches");
        const int64_t expected_grid = (config.image_height / P) * (config.image_width / P);
        if (grid_tokens != expected_grid)
            throw ModelError(path, std::string("tensor '") + n.position_embedding + "' has " + std::to_string(grid_tokens) +
                                       " patch positions, but image_size/patch_size give " + std::to_string(expected_grid));
        w.position_embedding = reader.read(n.position_embedding, {shape[0], D});
    } else if (!config.image_height) {
        throw ModelError(path, "config.json must give 'image_size' for sincos2d position embeddings");
    }

    for (int64_t i = 0; i < depth; ++i) {
        const std::string b = n.block_prefix + std::to_string(i) + ".";
        ViTBlockWeights blk;
        blk.ln1_weight = reader.read(b + n.ln1_weight, {D});
        blk.ln1_bias = reader.read(b + n.ln1_bias, {D});
        blk.qkv_weight = reader.read_stacked(b, n.qkv_weight, {3 * D, D});
        blk.qkv_bias = reader.read_stacked(b, n.qkv_bias, {3 * D});
        blk.proj_weight = reader.read(b + n.proj_weight, {D, D});
        blk.proj_bias = reader.read(b + n.proj_bias, {D});
        blk.ln2_weight = reader.read(b + n.ln2_weight, {D});
        blk.ln2_bias = reader.read(b + n.ln2_bias, {D});
        blk.fc1_weight = reader.read(b + n.fc1_weight, {M, D});
        blk.fc1_bias = reader.read(b + n.fc1_bias, {M});
        blk.fc2_weight = reader.read(b + n.fc2_weight, {D, M});
        blk.fc2_bias = reader.read(b + n.fc2_bias, {D});
        if (!config.locality_attention && n.log_temperature && reader.has(b + n.log_temperature))
            throw ModelError(path, "the weights have '" + b + n.log_temperature +
                                       "', a locality-self-attention ViT's; its config.json must say "
                                       "\"locality_self_attention\": true");
        if (config.locality_attention) {
            blk.log_temperature = reader.read(b + n.log_temperature, {config.num_heads});
            for (float t : blk.log_temperature.values)
                if (!(std::abs(t) <= kMaxLogTemperature))
                    throw ModelError(path, "tensor '" + b + n.log_temperature + "' holds " + std::to_string(t) +
                                               "; a log-temperature must lie in [-" +
                                               std::to_string(static_cast<int>(kMaxLogTemperature)) + ", " +
                                               std::to_string(static_cast<int>(kMaxLogTemperature)) + "]");
        }
        w.blocks.push_back(std::move(blk));
    }
    w.norm_weight = reader.read(n.norm_weight, {D});
    w.norm_bias = reader.read(n.norm_bias, {D});

    const std::vector<int64_t> head_shape = reader.shape_of(n.head_weight);
    if (head_shape.size() != 2 || head_shape[1] != D)
        throw ModelError(path, std::string("tensor '") + n.head_weight + "' has shape " + shape_string(head_shape) +
                                   ", expected [classes, " + std::to_string(D) + "]");
    const int64_t K = head_shape[0];
    if (config.labels.empty())
        for (int64_t k = 0; k < K; ++k) config.labels.push_back("class_" + std::to_string(k));
    if (static_cast<int64_t>(config.labels.size()) != K)
        throw ModelError(path, "config has " + std::to_string(config.labels.size()) + " labels, but the head '" +
                                   n.head_weight + "' has " + std::to_string(K) + " rows");
    w.head_weight = reader.read(n.head_weight, {K, D});
    w.head_bias = reader.read(n.head_bias, {K});
    if (config.pooling == Pooling::Cls && w.class_token.empty())
        throw ModelError(path, "pooling is 'cls' but the weights have no class token");
    return w;
}

}  // namespace vitc
