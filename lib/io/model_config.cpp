#include "io/model_config.hpp"

#include <cmath>
#include <nlohmann/json.hpp>

#include "errors.hpp"
#include "io/json_parse.hpp"
#include "io/read_file.hpp"

namespace vitc {

namespace {

using nlohmann::json;

constexpr int kMaxDimension = 1 << 16;  // any size beyond this is a corrupt config
constexpr int64_t kMaxConfigBytes = 64 << 20;  // real configs are a few KiB (ImageNet labels: ~30 KiB)

// An optional integer field in [lo, hi]; `fallback` when absent or null.
int get_int(const json& j, const char* field, const std::string& file, int lo, int hi, int fallback) {
    if (!j.contains(field) || j[field].is_null()) return fallback;
    const json& v = j[field];
    if (!v.is_number_integer())
        throw ModelError(file, std::string("field '") + field + "' must be an integer, found " + v.dump());
    const int64_t x = v.get<int64_t>();
    if (x < lo || x > hi)
        throw ModelError(file, std::string("field '") + field + "' = " + std::to_string(x) +
                                   " is outside [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
    return static_cast<int>(x);
}

double get_number(const json& j, const char* field, const std::string& file, double fallback) {
    if (!j.contains(field) || j[field].is_null()) return fallback;
    if (!j[field].is_number())
        throw ModelError(file, std::string("field '") + field + "' must be a number, found " + j[field].dump());
    const double x = j[field].get<double>();
    // Values are later stored as float: anything beyond 1e30 is a corrupt file, not a setting.
    if (!std::isfinite(x) || std::abs(x) > 1e30)
        throw ModelError(file, std::string("field '") + field + "' = " + j[field].dump() + " is out of range");
    return x;
}

std::string get_string(const json& j, const char* field, const std::string& file, const std::string& fallback) {
    if (!j.contains(field) || j[field].is_null()) return fallback;
    if (!j[field].is_string())
        throw ModelError(file, std::string("field '") + field + "' must be a string, found " + j[field].dump());
    return j[field].get<std::string>();
}

bool get_bool(const json& j, const char* field, const std::string& file, bool fallback) {
    if (!j.contains(field) || j[field].is_null()) return fallback;
    if (!j[field].is_boolean())
        throw ModelError(file, std::string("field '") + field + "' must be true or false, found " + j[field].dump());
    return j[field].get<bool>();
}

std::vector<float> get_floats(const json& j, const char* field, const std::string& file) {
    std::vector<float> out;
    if (!j.contains(field) || j[field].is_null()) return out;
    const json& v = j[field];
    const json list = v.is_number() ? json::array({v}) : v;
    if (!list.is_array() || list.empty() || list.size() > 4)
        throw ModelError(file, std::string("field '") + field + "' must be a number or a list of 1 to 4 numbers");
    for (const auto& x : list) {
        if (!x.is_number()) throw ModelError(file, std::string("field '") + field + "' holds a non-number");
        const double value = x.get<double>();
        if (!std::isfinite(value) || std::abs(value) > 1e30)
            throw ModelError(file, std::string("field '") + field + "' holds " + x.dump() + ", out of range");
        out.push_back(static_cast<float>(value));
    }
    return out;
}

// HF "id2label": {"0": "cat", ...}; every index from 0 to n-1 must be present exactly once.
std::vector<std::string> parse_id2label(const json& j, const std::string& file) {
    std::vector<std::string> labels;
    if (!j.contains("id2label") || j["id2label"].is_null()) return labels;
    const json& map = j["id2label"];
    if (!map.is_object()) throw ModelError(file, "field 'id2label' must be an object");
    labels.resize(map.size());
    std::vector<bool> seen(map.size(), false);
    for (const auto& [key, value] : map.items()) {
        size_t used = 0;
        long index = -1;
        try {
            index = std::stol(key, &used);
        } catch (const std::exception&) {
        }
        if (used != key.size() || index < 0 || static_cast<size_t>(index) >= labels.size())
            throw ModelError(file, "id2label key '" + key + "' is not an index in [0, " +
                                       std::to_string(labels.size()) + ")");
        if (!value.is_string()) throw ModelError(file, "id2label[" + key + "] is not a string");
        if (seen[index]) throw ModelError(file, "id2label index " + key + " appears twice");
        seen[index] = true;
        labels[index] = value.get<std::string>();
        if (labels[index].find('\0') != std::string::npos)  // CSV cannot carry it; terminals hide what follows
            throw ModelError(file, "id2label[" + key + "] holds a NUL character");
    }
    return labels;
}

Interpolation interpolation_from_pil(int code, const std::string& file) {
    switch (code) {  // PIL.Image.Resampling values, as Hugging Face stores them
        case 0: return Interpolation::Nearest;
        case 2: return Interpolation::Bilinear;
        case 3: return Interpolation::Bicubic;
        default:
            throw ModelError(file, "field 'resample' = " + std::to_string(code) +
                                       " is not supported (0 nearest, 2 bilinear, 3 bicubic)");
    }
}

Interpolation interpolation_from_name(const std::string& name, const std::string& file) {
    if (name == "nearest") return Interpolation::Nearest;
    if (name == "bilinear") return Interpolation::Bilinear;
    if (name == "bicubic") return Interpolation::Bicubic;
    throw ModelError(file, "interpolation '" + name + "' is not supported (nearest, bilinear, bicubic)");
}

void set_channel_stats(Preprocessing& p, std::vector<float> mean, std::vector<float> std,
                       int channels, const std::string& file) {
    if (mean.empty()) mean = {0.5f};
    if (std.empty()) std = {0.5f};
    const size_t c = channels > 0 ? static_cast<size_t>(channels) : std::max(mean.size(), std.size());
    if (mean.size() == 1) mean.assign(c, mean[0]);
    if (std.size() == 1) std.assign(c, std[0]);
    if (mean.size() != c || std.size() != c)
        throw ModelError(file, "image_mean/image_std have " + std::to_string(mean.size()) + "/" +
                                   std::to_string(std.size()) + " values for " + std::to_string(c) +
                                   " channels");
    for (float s : std)
        if (!(s > 0)) throw ModelError(file, "image_std values must be positive");
    p.mean = std::move(mean);
    p.std = std::move(std);
}

// The normalised value of a pixel is (x * rescale - mean) / std, x in [0, 255]. Settings that make
// it astronomically large, or make every image nearly the same input, are a corrupt file: the model
// would answer NaN or the same class for everything and each row would still say "ok".
void check_normalisation(const Preprocessing& p, const std::string& file) {
    const double scale = p.do_rescale ? p.rescale_factor : 1.0;
    if (!(scale > 0)) throw ModelError(file, "rescale_factor must be positive");
    for (size_t c = 0; c < p.std.size(); ++c) {
        const double mean = p.do_normalize ? p.mean[c] : 0.0, std = p.do_normalize ? p.std[c] : 1.0;
        const double span = 255.0 * scale / std, offset = std::abs(mean / std);
        if (!(span >= 1e-3 && span <= 1e5 && offset <= 1e5))
            throw ModelError(file, "rescale_factor " + std::to_string(scale) + ", image_mean " + std::to_string(mean) +
                                       " and image_std " + std::to_string(std) +
                                       " map pixels onto a range of " + std::to_string(span) +
                                       "; expected between 0.001 and 100000 (check image_std and rescale_factor)");
    }
}

}  // namespace

json read_json_file(const std::string& path) {
    std::string text;
    try {
        text = read_regular_file(path, kMaxConfigBytes, "config file");  // a FIFO or /dev/zero: refused unread
    } catch (const FileError& e) {
        throw ModelError(path, e.reason());
    }
    return parse_json_strict(text, path);
}

ViTConfig parse_vit_config(const json& j, const std::string& file) {
    if (!j.is_object()) throw ModelError(file, "must hold a JSON object");
    ViTConfig c;
    c.hidden_size = get_int(j, "hidden_size", file, 1, kMaxDimension, 0);
    c.num_layers = get_int(j, "num_hidden_layers", file, 1, 1024, 0);
    c.num_heads = get_int(j, "num_attention_heads", file, 1, kMaxDimension, 0);
    c.intermediate_size = get_int(j, "intermediate_size", file, 1, 1 << 20, 0);
    c.patch_size = get_int(j, "patch_size", file, 1, kMaxDimension, 0);
    c.num_channels = get_int(j, "num_channels", file, 1, 4, 0);
    c.layer_norm_eps = static_cast<float>(get_number(j, "layer_norm_eps", file, 0.0));
    if (c.layer_norm_eps < 0) throw ModelError(file, "field 'layer_norm_eps' must not be negative");
    c.hidden_act = get_string(j, "hidden_act", file, "gelu");
    if (c.hidden_act != "gelu")
        throw ModelError(file, "hidden_act '" + c.hidden_act + "' is not supported (only exact 'gelu')");
    if (j.contains("image_size") && j["image_size"].is_array()) {
        const json& s = j["image_size"];
        if (s.size() != 2 || !s[0].is_number_integer() || !s[1].is_number_integer())
            throw ModelError(file, "field 'image_size' must be an integer or [height, width]");
        c.image_height = s[0].get<int>();
        c.image_width = s[1].get<int>();
        if (c.image_height < 1 || c.image_width < 1 || c.image_height > kMaxDimension || c.image_width > kMaxDimension)
            throw ModelError(file, "field 'image_size' is out of range");
    } else {
        c.image_height = c.image_width = get_int(j, "image_size", file, 1, kMaxDimension, 0);
    }
    c.labels = parse_id2label(j, file);

    const std::string pooling = get_string(j, "pooling", file, "");
    if (pooling == "mean" || pooling == "avg") c.pooling = Pooling::Mean;
    else if (pooling.empty() || pooling == "cls" || pooling == "token") c.pooling = Pooling::Cls;
    else throw ModelError(file, "field 'pooling' = '" + pooling + "' (expected cls or mean)");

    const std::string pos = get_string(j, "position_embedding_type", file, "learned");
    if (pos == "sincos2d") c.position_embedding = PositionEmbeddingType::SinCos2D;
    else if (pos == "learned" || pos == "absolute") c.position_embedding = PositionEmbeddingType::Learned;
    else throw ModelError(file, "field 'position_embedding_type' = '" + pos + "' (expected learned or sincos2d)");
    c.shifted_patches = get_bool(j, "shifted_patch_tokens", file, false);
    c.locality_attention = get_bool(j, "locality_self_attention", file, false);

    if (j.contains("architectures") && j["architectures"].is_array() && !j["architectures"].empty() &&
        j["architectures"][0].is_string())
        c.architecture = j["architectures"][0].get<std::string>();

    // timm hub dialect: {"architecture", "num_classes", "num_features", "global_pool", "pretrained_cfg"}
    if (j.contains("architecture")) {
        c.architecture = get_string(j, "architecture", file, "");
        const int num_features = get_int(j, "num_features", file, 1, kMaxDimension, 0);
        if (!c.hidden_size) c.hidden_size = num_features;
        const std::string global_pool = get_string(j, "global_pool", file, "token");
        if (global_pool == "avg") c.pooling = Pooling::Mean;
        else if (global_pool != "token" && !global_pool.empty())
            throw ModelError(file, "global_pool '" + global_pool + "' is not supported (token or avg)");
        if (j.contains("model_args") && j["model_args"].is_object()) {
            const json& args = j["model_args"];
            if (!c.num_heads) c.num_heads = get_int(args, "num_heads", file, 1, kMaxDimension, 0);
            if (!c.patch_size) c.patch_size = get_int(args, "patch_size", file, 1, kMaxDimension, 0);
        }
        const int num_classes = get_int(j, "num_classes", file, 1, 1 << 20, 0);
        if (c.labels.empty() && j.contains("label_names") && j["label_names"].is_array()) {
            for (const auto& name : j["label_names"]) {
                if (!name.is_string()) throw ModelError(file, "label_names holds a non-string");
                c.labels.push_back(name.get<std::string>());
                if (c.labels.back().find('\0') != std::string::npos)
                    throw ModelError(file, "label_names holds a label with a NUL character");
            }
        }
        if (c.labels.empty())
            for (int i = 0; i < num_classes; ++i) c.labels.push_back("class_" + std::to_string(i));
        if (j.contains("pretrained_cfg") && j["pretrained_cfg"].is_object()) {
            const json& cfg = j["pretrained_cfg"];
            if (cfg.contains("input_size") && cfg["input_size"].is_array() && cfg["input_size"].size() == 3) {
                const json& s = cfg["input_size"];
                for (const auto& v : s)
                    if (!v.is_number_integer() || v.get<int64_t>() < 1 || v.get<int64_t>() > kMaxDimension)
                        throw ModelError(file, "pretrained_cfg.input_size must hold 3 positive integers");
                if (!c.num_channels) c.num_channels = s[0].get<int>();
                if (!c.image_height) {
                    c.image_height = s[1].get<int>();
                    c.image_width = s[2].get<int>();
                }
            }
        }
    }
    return c;
}

Preprocessing default_preprocessing(const ViTConfig& model) {
    Preprocessing p;
    p.resize_height = model.image_height;
    p.resize_width = model.image_width;
    set_channel_stats(p, {0.5f}, {0.5f}, model.num_channels, "config.json");
    return p;
}

Preprocessing parse_preprocessor_config(const json& j, const std::string& file, const ViTConfig& model) {
    if (!j.is_object()) throw ModelError(file, "must hold a JSON object");
    Preprocessing p = default_preprocessing(model);
    if (get_bool(j, "do_resize", file, true) && j.contains("size")) {
        const json& size = j["size"];
        if (size.is_number_integer()) {
            p.resize_height = p.resize_width = get_int(j, "size", file, 1, kMaxDimension, 0);
        } else if (size.is_object() && size.contains("height")) {
            p.resize_height = get_int(size, "height", file, 1, kMaxDimension, 0);
            p.resize_width = get_int(size, "width", file, 1, kMaxDimension, 0);
            if (!p.resize_width) throw ModelError(file, "size has 'height' but no 'width'");
        } else if (size.is_object() && size.contains("shortest_edge")) {
            p.resize = Preprocessing::Resize::ShortestEdge;
            p.shortest_edge = get_int(size, "shortest_edge", file, 1, kMaxDimension, 0);
        } else {
            throw ModelError(file, "field 'size' must be an integer, {height, width} or {shortest_edge}");
        }
    }
    p.interpolation = interpolation_from_pil(get_int(j, "resample", file, 0, 5, 2), file);
    if (get_bool(j, "do_center_crop", file, false)) {
        const json& crop = j.contains("crop_size") ? j["crop_size"] : json();
        if (crop.is_number_integer()) {
            p.crop_height = p.crop_width = crop.get<int>();
        } else if (crop.is_object()) {
            p.crop_height = get_int(crop, "height", file, 1, kMaxDimension, 0);
            p.crop_width = get_int(crop, "width", file, 1, kMaxDimension, 0);
        }
        if (p.crop_height < 1 || p.crop_width < 1 || p.crop_height > kMaxDimension || p.crop_width > kMaxDimension)
            throw ModelError(file, "do_center_crop is set but crop_size is missing or invalid");
    }
    p.do_rescale = get_bool(j, "do_rescale", file, true);
    p.rescale_factor = static_cast<float>(get_number(j, "rescale_factor", file, 1.0 / 255.0));
    p.do_normalize = get_bool(j, "do_normalize", file, true);
    set_channel_stats(p, get_floats(j, "image_mean", file), get_floats(j, "image_std", file),
                      model.num_channels, file);
    check_normalisation(p, file);
    return p;
}

Preprocessing parse_timm_pretrained_cfg(const json& j, const std::string& file, const ViTConfig& model) {
    Preprocessing p = default_preprocessing(model);
    if (!j.contains("pretrained_cfg") || !j["pretrained_cfg"].is_object()) return p;
    const json& cfg = j["pretrained_cfg"];
    // timm's eval transform: resize the shorter side to size / crop_pct, then centre-crop to size.
    const double crop_pct = get_number(cfg, "crop_pct", file, 0.875);
    if (!(crop_pct > 0.05 && crop_pct <= 1.0)) throw ModelError(file, "pretrained_cfg.crop_pct must be in (0.05, 1]");
    const std::string crop_mode = get_string(cfg, "crop_mode", file, "center");
    if (crop_mode != "center") throw ModelError(file, "pretrained_cfg.crop_mode '" + crop_mode + "' is not supported");
    p.resize = Preprocessing::Resize::ShortestEdge;
    p.shortest_edge = static_cast<int>(std::floor(model.image_height / crop_pct));
    p.crop_height = model.image_height;
    p.crop_width = model.image_width;
    p.interpolation = interpolation_from_name(get_string(cfg, "interpolation", file, "bicubic"), file);
    std::vector<float> mean = get_floats(cfg, "mean", file), std = get_floats(cfg, "std", file);
    set_channel_stats(p, mean.empty() ? std::vector<float>{0.485f, 0.456f, 0.406f} : mean,
                      std.empty() ? std::vector<float>{0.229f, 0.224f, 0.225f} : std, model.num_channels, file);
    check_normalisation(p, file);
    return p;
}

}  // namespace vitc
