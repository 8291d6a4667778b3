#include "train/init_from.hpp"

#include <algorithm>
#include <cstring>
#include <nlohmann/json.hpp>

#include "errors.hpp"
#include "io/model_directory.hpp"
#include "io/safetensors.hpp"
#include "io/weight_names.hpp"
#include "models/model.hpp"
#include "models/position_embedding.hpp"
#include "tasks/image_folder.hpp"
#include "train/vit_train_model.hpp"
#include "io/resnet_weights.hpp"

namespace vitc::train {

namespace {

// FNV-1a over 64-bit words (fast enough for ViT-B's 86M weights), as 16 hex digits.
std::string fingerprint_of(const std::vector<std::vector<float>>& arrays) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (const std::vector<float>& a : arrays) {
        const size_t bytes = a.size() * sizeof(float);
        const auto* p = reinterpret_cast<const unsigned char*>(a.data());
        for (size_t i = 0; i < bytes; i += 8) {
            uint64_t word = 0;
            std::memcpy(&word, p + i, std::min<size_t>(8, bytes - i));
            h = (h ^ word) * 0x100000001b3ull;
        }
        h = (h ^ bytes) * 0x100000001b3ull;
    }
    char text[17];
    std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(h));
    return text;
}

// The model's normalisation, value = (pixel * r - m) / s, as (pixel / 255 - m') / s' with
// m' = m / (255 r) and s' = s / (255 r) (the trainer's and the written model's form).
void normalisation(const Preprocessing& p, int channels, const std::string& directory, std::vector<float>& mean,
                   std::vector<float>& stddev) {
    const float r = p.do_rescale ? p.rescale_factor : 1.0f;
    if (!(r > 0)) throw Error(directory + ": --init-from needs a positive rescale_factor");
    std::vector<float> m = p.do_normalize ? p.mean : std::vector<float>{0.0f};
    std::vector<float> s = p.do_normalize ? p.std : std::vector<float>{1.0f};
    for (std::vector<float>* v : {&m, &s}) {
        if (v->size() == 1) v->assign(channels, v->front());
        if (static_cast<int>(v->size()) != channels)
            throw Error(directory + ": the preprocessing gives " + std::to_string(v->size()) +
                        " mean/std values for a model of " + std::to_string(channels) + " channels");
    }
    mean.clear(), stddev.clear();
    for (int c = 0; c < channels; ++c) {
        mean.push_back(m[c] / (255.0f * r));
        stddev.push_back(s[c] / (255.0f * r));
    }
}

// A model whose initialise() gives the pretrained weights and state, with a new head drawn by
// Base's own initialisation when `new_head`.
template <class Base>
class Pretrained : public Base {
public:
    template <class Architecture>
    Pretrained(Architecture arch, std::vector<float> weights, std::vector<float> state, bool new_head)
        : Base(std::move(arch)), weights_(std::move(weights)), state_(std::move(state)), new_head_(new_head) {}

    void initialise(float* parameters, float* state, uint64_t seed) const override {
        std::copy(weights_.begin(), weights_.end(), parameters);
        std::copy(state_.begin(), state_.end(), state);
        if (!new_head_) return;
        std::vector<float> fresh(this->parameters().size()), fresh_state(this->state().size());
        Base::initialise(fresh.data(), fresh_state.data(), seed);
        const TrainModel::Head head = this->head();
        for (const std::string& name : {head.weight, head.bias}) {
            const ParameterTensor& t = this->parameters().find(name);
            std::copy_n(fresh.data() + t.offset, t.numel, parameters + t.offset);
        }
    }

private:
    std::vector<float> weights_, state_;  // laid out by parameters() and state(); the head as kept (or zeros)
    bool new_head_;
};

// The family's TrainModel for `labels`: pretrained weights when given, else plain (for its layouts).
std::unique_ptr<TrainModel> model_for(const PretrainedModel& p, const std::vector<std::string>& labels,
                                      std::vector<float> weights = {}, std::vector<float> state = {},
                                      bool new_head = false) {
    if (p.family == "vit") {
        ViTArchitecture a = p.vit;
        a.config.labels = labels;
        if (weights.empty()) return std::make_unique<ViTTrainModel>(a);
        return std::make_unique<Pretrained<ViTTrainModel>>(a, std::move(weights), std::move(state), new_head);
    }
    ResNetArchitecture a = p.resnet;
    a.config.labels = labels;
    if (weights.empty()) return std::make_unique<ResNetTrainModel>(a);
    return std::make_unique<Pretrained<ResNetTrainModel>>(a, std::move(weights), std::move(state), new_head);
}

void copy_tensor(const Tensor& t, const std::vector<int64_t>& expected, float* to, const std::string& what) {
    int64_t n = 1;
    for (int64_t d : expected) n *= d;
    if (t.numel() != n) throw Error("--init-from: tensor '" + what + "' does not have the training layout's shape");
    std::copy(t.values.begin(), t.values.end(), to);
}

// The ResNet's weights into resnet_parameter_layout / resnet_state_layout buffers, by structure
// (the loader has read them under whichever naming the directory uses).
void put_resnet(const ResNetArchitecture& arch, const ResNetWeights& w, std::vector<float>& parameters,
                std::vector<float>& state) {
    const ParameterLayout layout = resnet_parameter_layout(arch), state_layout = resnet_state_layout(arch);
    parameters.assign(layout.size(), 0.0f);
    state.assign(state_layout.size(), 0.0f);
    const ResNetViews v = resnet_views(arch, layout, state_layout, parameters.data(), state.data());
    const ResNetSpec spec = resnet_spec(arch.config);
    auto put = [&](const ConvBatchNormWeights& from, const ConvBatchNorm& to, const ConvSpec& c) {
        copy_tensor(from.conv_weight, {c.out, c.in, c.kernel, c.kernel}, to.weight, c.conv + ".weight");
        copy_tensor(from.bn_weight, {c.out}, to.gamma, c.bn + ".weight");
        copy_tensor(from.bn_bias, {c.out}, to.beta, c.bn + ".bias");
        copy_tensor(from.bn_mean, {c.out}, to.running_mean, c.bn + ".running_mean");
        copy_tensor(from.bn_var, {c.out}, to.running_var, c.bn + ".running_var");
    };
    put(w.stem, v.stem, spec.stem);
    if (w.blocks.size() != v.blocks.size()) throw Error("--init-from: the ResNet's block count changed on reading");
    for (size_t b = 0; b < w.blocks.size(); ++b) {
        const ResNetBlockWeights& from = w.blocks[b];
        const ResNetBlockViews& to = v.blocks[b];
        if (from.convs.size() != to.convs.size() || from.has_downsample != to.has_downsample)
            throw Error("--init-from: block " + spec.blocks[b].prefix + " differs from the training layout");
        for (size_t c = 0; c < from.convs.size(); ++c) put(from.convs[c], to.convs[c], spec.blocks[b].convs[c]);
        if (from.has_downsample) put(from.downsample, to.downsample, spec.blocks[b].downsample);
    }
    copy_tensor(w.fc_weight, {arch.classes(), arch.config.features()}, v.fc_w, "fc.weight");
    copy_tensor(w.fc_bias, {arch.classes()}, v.fc_b, "fc.bias");
}

// The ViT's weights into a vit_parameter_layout buffer, by structure (through the training views,
// so the tensor names live in vit_train.cpp alone); positions resized to arch's grid.
void put_vit(const ViTArchitecture& arch, const ViTConfig& stored, const ViTWeights& w, std::vector<float>& parameters) {
    const ParameterLayout layout = vit_parameter_layout(arch);
    parameters.assign(layout.size(), 0.0f);
    const ViTParameters v = vit_parameter_views(arch, layout, parameters.data());
    const ViTConfig& c = arch.config;
    const int64_t D = c.hidden_size, M = c.intermediate_size, K = arch.classes();
    copy_tensor(w.patch_weight, {D, arch.patch_values()}, v.patch_w, "patch embedding weight");
    if (v.patch_norm_w) {
        copy_tensor(w.patch_norm_weight, {arch.patch_values()}, v.patch_norm_w, "patch LayerNorm weight");
        copy_tensor(w.patch_norm_bias, {arch.patch_values()}, v.patch_norm_b, "patch LayerNorm bias");
    }
    copy_tensor(w.patch_bias, {D}, v.patch_b, "patch embedding bias");
    if (v.cls) copy_tensor(w.class_token, {D}, v.cls, "class token");
    if (v.pos && stored.position_embedding == PositionEmbeddingType::Learned) {
        const int prefix = arch.class_token ? 1 : 0, P = stored.patch_size;
        const int trained_h = stored.image_height / P, trained_w = stored.image_width / P;
        Tensor position = w.position_embedding;
        if (trained_h != arch.grid_h() || trained_w != arch.grid_w()) {
            const std::vector<float> grid(position.values.begin() + prefix * D, position.values.end());
            const std::vector<float> resized =
                resize_position_grid(grid, trained_h, trained_w, arch.grid_h(), arch.grid_w(), static_cast<int>(D));
            position.values.resize(static_cast<size_t>(prefix * D));
            position.values.insert(position.values.end(), resized.begin(), resized.end());
            position.shape = {static_cast<int64_t>(position.values.size() / D), D};
        }
        copy_tensor(position, {prefix + int64_t(arch.grid_h()) * arch.grid_w(), D}, v.pos, "position embedding");
    }
    for (size_t i = 0; i < w.blocks.size(); ++i) {
        const ViTBlockWeights& b = w.blocks[i];
        const ViTBlockParameters& to = v.blocks.at(i);
        const std::string at = "block " + std::to_string(i) + " ";
        copy_tensor(b.ln1_weight, {D}, to.ln1_w, at + "LayerNorm 1 weight");
        copy_tensor(b.ln1_bias, {D}, to.ln1_b, at + "LayerNorm 1 bias");
        copy_tensor(b.qkv_weight, {3 * D, D}, to.qkv_w, at + "qkv weight");
        copy_tensor(b.qkv_bias, {3 * D}, to.qkv_b, at + "qkv bias");
        copy_tensor(b.proj_weight, {D, D}, to.proj_w, at + "attention output weight");
        copy_tensor(b.proj_bias, {D}, to.proj_b, at + "attention output bias");
        copy_tensor(b.ln2_weight, {D}, to.ln2_w, at + "LayerNorm 2 weight");
        copy_tensor(b.ln2_bias, {D}, to.ln2_b, at + "LayerNorm 2 bias");
        copy_tensor(b.fc1_weight, {M, D}, to.fc1_w, at + "MLP fc1 weight");
        copy_tensor(b.fc1_bias, {M}, to.fc1_b, at + "MLP fc1 bias");
        copy_tensor(b.fc2_weight, {D, M}, to.fc2_w, at + "MLP fc2 weight");
        copy_tensor(b.fc2_bias, {D}, to.fc2_b, at + "MLP fc2 bias");
        if (to.log_temperature)
            copy_tensor(b.log_temperature, {int64_t(c.num_heads)}, to.log_temperature, at + "attention log-temperature");
    }
    copy_tensor(w.norm_weight, {D}, v.norm_w, "final LayerNorm weight");
    copy_tensor(w.norm_bias, {D}, v.norm_b, "final LayerNorm bias");
    copy_tensor(w.head_weight, {K, D}, v.head_w, "head weight");
    copy_tensor(w.head_bias, {K}, v.head_b, "head bias");
}

}  // namespace

ArchitectureInput PretrainedModel::input() const {
    const ViTConfig& v = vit.config;
    const ResNetConfig& r = resnet.config;
    return family == "vit" ? ArchitectureInput{v.num_channels, v.image_height, v.image_width}
                           : ArchitectureInput{r.num_channels, r.image_height, r.image_width};
}

PretrainedModel read_pretrained(const std::string& directory) {
    const std::unique_ptr<Model> loaded = load_model(directory);  // every check vitc's loader makes
    PretrainedModel p;
    p.directory = directory;
    p.family = loaded->summary().family;
    p.labels = loaded->labels();
    const Preprocessing& pre = loaded->preprocessing();
    // Trained at the size the model's preprocessing gives.
    const int height = pre.output_height(), width = pre.output_width();
    const std::string config_file = config_path(directory);
    const nlohmann::json config_json = read_json_file(config_file);
    const SafetensorsFile file = SafetensorsFile::open(weights_path(directory));
    try {
        if (p.family == "vit") {
            ViTConfig config = parse_vit_config(config_json, config_file);
            const ViTWeights w = load_vit_weights(file, detect_weight_scheme(file), config);
            p.vit.config = config;
            p.vit.config.labels = p.labels;
            p.vit.class_token = !w.class_token.empty();
            p.vit.config.image_height = height;
            p.vit.config.image_width = width;
            ViTArchitecture probe = p.vit;  // the data's classes make the head: any 2 will do here
            probe.config.labels = {"a", "b"};
            check_architecture(probe);
            put_vit(p.vit, config, w, p.parameters);
        } else if (p.family == "resnet") {
            ResNetConfig config = parse_resnet_config(config_json, config_file);
            const ResNetWeights w = load_resnet_weights(file, config);
            p.resnet.config = config;
            p.resnet.config.labels = p.labels;
            p.resnet.config.naming = ResNetNaming::Torchvision;  // the training layout's names
            p.resnet.config.image_height = height;
            p.resnet.config.image_width = width;
            ResNetArchitecture probe = p.resnet;
            probe.config.labels = {"a", "b"};
            check_architecture(probe);
            put_resnet(p.resnet, w, p.parameters, p.state);
        } else {
            throw Error("a " + p.family + "; --init-from fine-tunes ViTs and ResNets");
        }
    } catch (const ModelError&) {
        throw;
    } catch (const Error& e) {
        throw Error(directory + ": cannot be trained: " + e.what());
    }
    normalisation(pre, p.input().channels, directory, p.mean, p.std);
    p.fingerprint = fingerprint_of({p.parameters, p.state, p.mean, p.std});
    return p;
}

std::unique_ptr<TrainModel> pretrained_train_model(const PretrainedModel& p, const std::vector<std::string>& classes,
                                                   std::string& note) {
    const std::vector<std::string>& labels = p.labels;
    // model_row[k]: the model's head row for the data's class k, when every class has one.
    std::vector<int> model_row;
    if (classes.size() == labels.size()) {
        for (const std::string& c : classes) {
            int match = -1;
            for (size_t j = 0; j < labels.size(); ++j)
                if (label_match_key(labels[j]) == label_match_key(c)) match = match < 0 ? static_cast<int>(j) : -2;
            if (match < 0 || std::count(model_row.begin(), model_row.end(), match)) break;
            model_row.push_back(match);
        }
        if (model_row.size() != classes.size()) model_row.clear();
    }
    const bool keep = !model_row.empty();
    std::vector<std::string> new_labels = classes;
    for (size_t k = 0; k < model_row.size(); ++k) new_labels[k] = labels[model_row[k]];  // the model's spelling

    // Every tensor but the head as read; the head's rows reordered, or left for initialise().
    const std::unique_ptr<TrainModel> old_model = model_for(p, labels), plain = model_for(p, new_labels);
    const ParameterLayout &old_layout = old_model->parameters(), &layout = plain->parameters();
    const TrainModel::Head head = plain->head();
    std::vector<float> weights(layout.size(), 0.0f);
    for (const ParameterTensor& t : layout.tensors()) {
        if (t.name == head.weight || t.name == head.bias) continue;
        std::copy_n(p.parameters.begin() + static_cast<std::ptrdiff_t>(old_layout.find(t.name).offset), t.numel,
                    weights.begin() + static_cast<std::ptrdiff_t>(t.offset));
    }
    if (keep) {
        const ParameterTensor &ow = old_layout.find(head.weight), &ob = old_layout.find(head.bias);
        const ParameterTensor &nw = layout.find(head.weight), &nb = layout.find(head.bias);
        const size_t F = static_cast<size_t>(nw.shape.at(1));
        for (size_t k = 0; k < model_row.size(); ++k) {
            std::copy_n(p.parameters.begin() + static_cast<std::ptrdiff_t>(ow.offset + model_row[k] * F), F,
                        weights.begin() + static_cast<std::ptrdiff_t>(nw.offset + k * F));
            weights[nb.offset + k] = p.parameters[ob.offset + model_row[k]];
        }
        bool same_order = true;
        for (size_t k = 0; k < model_row.size(); ++k) same_order = same_order && model_row[k] == static_cast<int>(k);
        note = "kept its head (the data's " + std::to_string(classes.size()) + " classes are the model's labels" +
               (same_order ? std::string(")") : std::string("; rows reordered to the data's class order)"));
    } else {
        note = "a new head for the data's " + std::to_string(classes.size()) + " classes (not the model's " +
               std::to_string(labels.size()) + " labels), initialised as " +
               (p.family == "vit" ? "timm does" : "torchvision's nn.Linear");
    }
    return model_for(p, new_labels, std::move(weights), p.state, !keep);
}

}  // namespace vitc::train
