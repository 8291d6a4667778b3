#include "models/standard_vits.hpp"

#include <algorithm>
#include <random>

#include "errors.hpp"

namespace vitc {

namespace {

struct Shape {
    const char* name;
    int hidden, layers, heads, patch;
};
constexpr Shape kShapes[] = {
    {"vit-ti16", 192, 12, 3, 16}, {"vit-s16", 384, 12, 6, 16}, {"vit-b16", 768, 12, 12, 16},
    {"vit-b32", 768, 12, 12, 32}, {"vit-l16", 1024, 24, 16, 16}, {"vit-l32", 1024, 24, 16, 32},
    {"vit-h14", 1280, 32, 16, 14},
};

}  // namespace

bool standard_vit_shape(const std::string& arch, StandardViTShape* out) {
    std::string name = arch;  // torchvision's "vit_b_16" -> "vit-b16"
    if (name.rfind("vit_", 0) == 0) {
        name[3] = '-';
        name.erase(std::remove(name.begin(), name.end(), '_'), name.end());
    }
    for (const auto& s : kShapes)
        if (name == s.name) {
            *out = {s.hidden, s.layers, s.heads, s.patch};
            return true;
        }
    return false;
}

Tensor random_tensor(std::vector<int64_t> shape, std::mt19937& rng, float std_dev, float mean) {
    Tensor t{std::move(shape), {}};
    std::normal_distribution<float> normal(mean, std_dev);
    t.values.resize(static_cast<size_t>(t.numel()));
    for (float& v : t.values) v = normal(rng);
    return t;
}

std::unique_ptr<ViTModel> make_standard_vit(const std::string& arch, Precision precision, int image_size,
                                            int patch_size) {
    const Shape* shape = nullptr;
    for (const auto& s : kShapes)
        if (arch == s.name) shape = &s;
    if (!shape) throw Error("unknown --arch '" + arch + "' (vit-ti16, vit-s16, vit-b16, vit-b32, vit-l16, vit-l32, vit-h14)");
    ViTConfig c;
    c.hidden_size = shape->hidden;
    c.num_layers = shape->layers;
    c.num_heads = shape->heads;
    c.intermediate_size = 4 * shape->hidden;
    c.patch_size = patch_size ? patch_size : shape->patch;
    c.image_height = c.image_width = image_size;
    c.num_channels = 3;
    c.layer_norm_eps = 1e-6f;
    if (image_size % c.patch_size) throw Error("image size must be a multiple of the patch size");
    for (int k = 0; k < 1000; ++k) c.labels.push_back("class_" + std::to_string(k));

    std::mt19937 rng(0);
    const int64_t D = c.hidden_size, M = c.intermediate_size, P = c.patch_size;
    const int64_t T = static_cast<int64_t>(image_size / P) * (image_size / P) + 1;
    ViTWeights w;
    w.patch_weight = random_tensor({D, 3, P, P}, rng, 0.02f);
    w.patch_bias = random_tensor({D}, rng, 0.02f);
    w.class_token = random_tensor({D}, rng, 0.02f);
    w.position_embedding = random_tensor({T, D}, rng, 0.02f);
    for (int i = 0; i < c.num_layers; ++i) {
        ViTBlockWeights b;
        b.ln1_weight = random_tensor({D}, rng, 0.02f, 1.0f);
        b.ln1_bias = random_tensor({D}, rng, 0.02f);
        b.qkv_weight = random_tensor({3 * D, D}, rng, 0.02f);
        b.qkv_bias = random_tensor({3 * D}, rng, 0.02f);
        b.proj_weight = random_tensor({D, D}, rng, 0.02f);
        b.proj_bias = random_tensor({D}, rng, 0.02f);
        b.ln2_weight = random_tensor({D}, rng, 0.02f, 1.0f);
        b.ln2_bias = random_tensor({D}, rng, 0.02f);
        b.fc1_weight = random_tensor({M, D}, rng, 0.02f);
        b.fc1_bias = random_tensor({M}, rng, 0.02f);
        b.fc2_weight = random_tensor({D, M}, rng, 0.02f);
        b.fc2_bias = random_tensor({D}, rng, 0.02f);
        w.blocks.push_back(std::move(b));
    }
    w.norm_weight = random_tensor({D}, rng, 0.02f, 1.0f);
    w.norm_bias = random_tensor({D}, rng, 0.02f);
    w.head_weight = random_tensor({1000, D}, rng, 0.02f);
    w.head_bias = random_tensor({1000}, rng, 0.02f);
    Preprocessing p;
    p.resize_height = p.resize_width = image_size;
    p.mean = {0.5f, 0.5f, 0.5f};
    p.std = {0.5f, 0.5f, 0.5f};
    c.architecture = arch;
    return std::make_unique<ViTModel>(std::move(c), std::move(p), WeightScheme::Timm, w, precision);
}

}  // namespace vitc
