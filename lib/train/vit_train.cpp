#include "train/vit_train.hpp"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>
#include <cstring>
#include <random>

#include "errors.hpp"
#include "image/shifted_patches.hpp"
#include "io/vit_weights.hpp"
#include "models/position_embedding.hpp"
#include "runtime/tiled_attention.hpp"

namespace vitc::train {

namespace {

void add_into(float* dst, const float* src, int64_t count) {  // dst += src
#pragma omp simd
    for (int64_t i = 0; i < count; ++i) dst[i] += src[i];
}

std::string block_name(int i, const char* field) { return "blocks." + std::to_string(i) + "." + field; }

}  // namespace

int64_t ViTArchitecture::patch_values() const {
    return patch_vector_size(config.num_channels, config.patch_size, config.shifted_patches);
}

void check_architecture(const ViTArchitecture& arch) {
    const ViTConfig& c = arch.config;
    auto positive = [](int v, const char* what) {
        if (v < 1) throw Error(std::string("architecture: '") + what + "' must be set and positive");
    };
    positive(c.hidden_size, "hidden_size");
    positive(c.num_layers, "num_hidden_layers");
    positive(c.num_heads, "num_attention_heads");
    positive(c.intermediate_size, "intermediate_size");
    positive(c.patch_size, "patch_size");
    positive(c.num_channels, "num_channels");
    positive(c.image_height, "image_size");
    positive(c.image_width, "image_size");
    if (c.hidden_size % c.num_heads)
        throw Error("architecture: hidden_size " + std::to_string(c.hidden_size) + " is not divisible by " +
                    std::to_string(c.num_heads) + " heads");
    if (c.image_height % c.patch_size || c.image_width % c.patch_size)
        throw Error("architecture: image size " + std::to_string(c.image_height) + "x" + std::to_string(c.image_width) +
                    " is not divisible into " + std::to_string(c.patch_size) + "-pixel patches");
    if (c.locality_attention && arch.tokens() < 2)
        throw Error("architecture: locality_self_attention needs at least 2 tokens (a token may not attend to itself)");
    if (c.shifted_patches && c.patch_size < 2)
        throw Error("architecture: shifted_patch_tokens needs patches of at least 2 pixels (the shift is half a patch)");
    if (c.position_embedding == PositionEmbeddingType::SinCos2D && c.hidden_size % 4)
        throw Error("architecture: sincos2d positions need hidden_size divisible by 4");
    if (c.pooling == Pooling::Cls && !arch.class_token)
        throw Error("architecture: class-token pooling needs a class token");
    if (arch.classes() < 2) throw Error("architecture: at least 2 classes are needed");
    if (!(c.layer_norm_eps > 0)) throw Error("architecture: layer_norm_eps must be positive");
}

ViTArchitecture read_architecture(const std::string& config_file) {
    const nlohmann::json j = read_json_file(config_file);
    ViTArchitecture arch;
    arch.config = parse_vit_config(j, config_file);
    arch.class_token = arch.config.pooling == Pooling::Cls;
    if (j.contains("class_token")) {
        if (!j["class_token"].is_boolean()) throw ModelError(config_file, "field 'class_token' must be true or false");
        arch.class_token = j["class_token"].get<bool>();
    }
    if (arch.config.layer_norm_eps == 0) arch.config.layer_norm_eps = 1e-6f;
    try {
        ViTArchitecture probe = arch;  // the labels may come from the training data instead
        if (probe.config.labels.empty()) probe.config.labels = {"a", "b"};
        check_architecture(probe);
    } catch (const Error& e) {
        throw ModelError(config_file, e.what());
    }
    return arch;
}

ParameterLayout vit_parameter_layout(const ViTArchitecture& arch) {
    const ViTConfig& c = arch.config;
    const int64_t D = c.hidden_size, M = c.intermediate_size, K = arch.classes(), P = c.patch_size;
    ParameterLayout L;
    const int64_t copies = c.shifted_patches ? kShiftedCopies : 1;
    if (c.shifted_patches) {
        L.add("patch_embed.input_norm.weight", {arch.patch_values()}, false);
        L.add("patch_embed.input_norm.bias", {arch.patch_values()}, false);
    }
    L.add("patch_embed.proj.weight", {D, copies * c.num_channels, P, P}, true);
    L.add("patch_embed.proj.bias", {D}, false);
    if (arch.class_token) L.add("cls_token", {1, 1, D}, false);
    if (c.position_embedding == PositionEmbeddingType::Learned) L.add("pos_embed", {1, arch.tokens(), D}, false);
    for (int i = 0; i < c.num_layers; ++i) {
        L.add(block_name(i, "norm1.weight"), {D}, false);
        L.add(block_name(i, "norm1.bias"), {D}, false);
        L.add(block_name(i, "attn.qkv.weight"), {3 * D, D}, true);
        L.add(block_name(i, "attn.qkv.bias"), {3 * D}, false);
        if (c.locality_attention) L.add(block_name(i, "attn.log_temperature"), {c.num_heads}, false);
        L.add(block_name(i, "attn.proj.weight"), {D, D}, true);
        L.add(block_name(i, "attn.proj.bias"), {D}, false);
        L.add(block_name(i, "norm2.weight"), {D}, false);
        L.add(block_name(i, "norm2.bias"), {D}, false);
        L.add(block_name(i, "mlp.fc1.weight"), {M, D}, true);
        L.add(block_name(i, "mlp.fc1.bias"), {M}, false);
        L.add(block_name(i, "mlp.fc2.weight"), {D, M}, true);
        L.add(block_name(i, "mlp.fc2.bias"), {D}, false);
    }
    L.add("norm.weight", {D}, false);
    L.add("norm.bias", {D}, false);
    L.add("head.weight", {K, D}, true);
    L.add("head.bias", {K}, false);
    return L;
}

ViTParameters vit_parameter_views(const ViTArchitecture& arch, const ParameterLayout& L, float* buffer) {
    auto at = [&](const std::string& name) { return buffer + L.find(name).offset; };
    ViTParameters p;
    p.patch_w = at("patch_embed.proj.weight");
    p.patch_b = at("patch_embed.proj.bias");
    if (arch.config.shifted_patches) {
        p.patch_norm_w = at("patch_embed.input_norm.weight");
        p.patch_norm_b = at("patch_embed.input_norm.bias");
    }
    if (arch.class_token) p.cls = at("cls_token");
    if (arch.config.position_embedding == PositionEmbeddingType::Learned) p.pos = at("pos_embed");
    for (int i = 0; i < arch.config.num_layers; ++i) {
        ViTBlockParameters b;
        b.ln1_w = at(block_name(i, "norm1.weight"));
        b.ln1_b = at(block_name(i, "norm1.bias"));
        b.qkv_w = at(block_name(i, "attn.qkv.weight"));
        b.qkv_b = at(block_name(i, "attn.qkv.bias"));
        if (arch.config.locality_attention) b.log_temperature = at(block_name(i, "attn.log_temperature"));
        b.proj_w = at(block_name(i, "attn.proj.weight"));
        b.proj_b = at(block_name(i, "attn.proj.bias"));
        b.ln2_w = at(block_name(i, "norm2.weight"));
        b.ln2_b = at(block_name(i, "norm2.bias"));
        b.fc1_w = at(block_name(i, "mlp.fc1.weight"));
        b.fc1_b = at(block_name(i, "mlp.fc1.bias"));
        b.fc2_w = at(block_name(i, "mlp.fc2.weight"));
        b.fc2_b = at(block_name(i, "mlp.fc2.bias"));
        p.blocks.push_back(b);
    }
    p.norm_w = at("norm.weight");
    p.norm_b = at("norm.bias");
    p.head_w = at("head.weight");
    p.head_b = at("head.bias");
    return p;
}

void init_vit_parameters(const ViTArchitecture& arch, const ParameterLayout& L, float* buffer, uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    std::fill(buffer, buffer + L.size(), 0.0f);
    for (const ParameterTensor& t : L.tensors()) {
        float* v = buffer + t.offset;
        const std::string& n = t.name;
        const bool is_norm = n.find("norm") != std::string::npos && n.find(".weight") != std::string::npos;
        if (is_norm) {
            std::fill(v, v + t.numel, 1.0f);
        } else if (n.find("log_temperature") != std::string::npos) {  // exp(t) = 1/sqrt(Dh): plain attention
            const int head_dim = arch.config.hidden_size / arch.config.num_heads;
            std::fill(v, v + t.numel, std::log(1.0f / std::sqrt(static_cast<float>(head_dim))));
        } else if (t.decay || n == "cls_token" || n == "pos_embed") {
            for (size_t i = 0; i < t.numel; ++i) {
                float z;
                do z = normal(rng); while (std::abs(z) > 2.0f);
                v[i] = 0.02f * z;
            }
        }
    }
}

ViTTrainSession::ViTTrainSession(const ViTArchitecture& arch, int batch, TrainAttention attention,
                                 Precision precision)
    : arch_(arch), stream_(runtime::cpu_engine()), bf16_(precision == Precision::BF16) {
    if (precision != Precision::F32 && precision != Precision::BF16)
        throw Error(std::string("training runs in f32 or bf16, not ") + precision_name(precision));
    check_architecture(arch);
    if (batch < 1) throw Error("batch size must be at least 1");
    const ViTConfig& c = arch.config;
    N = batch;
    C = c.num_channels;
    P = c.patch_size;
    Np = arch.patches();
    T = arch.tokens();
    D = c.hidden_size;
    H = c.num_heads;
    M = c.intermediate_size;
    K = arch.classes();
    if (c.position_embedding == PositionEmbeddingType::SinCos2D) {
        fixed_position_.assign((T - Np) * D, 0.0f);  // zero for the class token
        const std::vector<float> grid = sincos_2d_position_grid(arch.grid_h(), arch.grid_w(), static_cast<int>(D));
        fixed_position_.insert(fixed_position_.end(), grid.begin(), grid.end());
    }
    // Auto: full attention while one block's probabilities fit 256 MiB (it is the faster at the
    // ViT sizes measured, patch 4 on 28x28), the tiled kernel beyond.
    tiled_ = attention == TrainAttention::Tiled ||
             (attention == TrainAttention::Auto && N * H * T * T * int64_t(sizeof(float)) > (int64_t(256) << 20));
    const int64_t NT = N * T, V = arch.patch_values();
    patch_ = runtime::LinearTrain(N * Np, V, D, false, precision);
    if (c.shifted_patches) patch_norm_ = runtime::LayerNormTrain(N * Np, V, c.layer_norm_eps);
    qkv_ = runtime::LinearTrain(NT, D, 3 * D, false, precision);
    proj_ = runtime::LinearTrain(NT, D, D, /*accumulate=*/true, precision);
    fc1_ = runtime::LinearTrain(NT, D, M, false, precision);
    fc2_ = runtime::LinearTrain(NT, M, D, /*accumulate=*/true, precision);
    head_ = runtime::LinearTrain(N, D, K, false, precision);
    norm_ = runtime::LayerNormTrain(NT, D, c.layer_norm_eps);
    gelu_ = runtime::GeluTrain(NT * M);
    if (!tiled_) attention_ = runtime::AttentionTrain(N, T, H, D / H, precision, c.locality_attention);

    acts_.patches.resize(N * Np * V);
    if (c.shifted_patches) {
        acts_.patches_normed.resize(N * Np * V);
        acts_.patch_mean.resize(N * Np);
        acts_.patch_var.resize(N * Np);
        dpatches_normed_.resize(N * Np * V);
        dpatches_.resize(N * Np * V);
    }
    acts_.patch_tokens.resize(N * Np * D);
    acts_.tokens.resize(NT * D);
    acts_.blocks.resize(c.num_layers);
    for (ViTBlockActivations& b : acts_.blocks) {
        for (auto* v : {&b.ln1, &b.context, &b.mid, &b.ln2, &b.out}) v->resize(NT * D);
        for (auto* v : {&b.ln1_mean, &b.ln1_var, &b.ln2_mean, &b.ln2_var}) v->resize(NT);
        b.qkv.resize(NT * 3 * D);
        if (tiled_) b.lse.resize(N * H * T);
        else b.probs.resize(N * H * T * T);
        b.fc1.resize(NT * M);
        b.gelu.resize(NT * M);
        if (bf16_) {
            for (auto* v : {&b.ln1_bf16, &b.context_bf16, &b.ln2_bf16}) v->resize(NT * D);
            b.gelu_bf16.resize(NT * M);
            if (!tiled_) b.probs_bf16.resize(N * H * T * T);
        }
    }
    block_weights_bf16_.resize(c.num_layers);
    if (bf16_) {
        acts_.patches_bf16.resize(acts_.patches.size());
        acts_.pooled_bf16.resize(N * D);
        for (BlockWeightsBF16& w : block_weights_bf16_) {
            w.qkv.resize(3 * D * D);
            w.proj.resize(D * D);
            w.fc1.resize(M * D);
            w.fc2.resize(D * M);
        }
        patch_w_bf16_.resize(D * V);
        head_w_bf16_.resize(K * D);
    }
    acts_.norm.resize(NT * D);
    acts_.norm_mean.resize(NT);
    acts_.norm_var.resize(NT);
    acts_.pooled.resize(N * D);
    acts_.logits.resize(N * K);
    for (auto* v : {&dresidual_, &dnormed_, &dln_in_, &dcontext_}) v->resize(NT * D);
    dqkv_.resize(NT * 3 * D);
    if (!tiled_) {
        dprobs_.resize(N * H * T * T);
        dscores_.resize(N * H * T * T);
    }
    dgelu_.resize(NT * M);
    dfc1_.resize(NT * M);
    dpooled_.resize(N * D);
    dpatch_tokens_.resize(N * Np * D);
}

void ViTTrainSession::linear_forward(runtime::LinearTrain& layer, const float* x, std::vector<runtime::bfloat16>& xb,
                                     const float* W, std::vector<runtime::bfloat16>& Wb, const float* b, float* y) {
    if (!bf16_) return layer.forward(stream_, x, W, b, y);
    layer.convert_weights(stream_, W, Wb.data());
    layer.forward(stream_, x, xb.data(), Wb.data(), b, y);
}

void ViTTrainSession::linear_backward(runtime::LinearTrain& layer, const float* dy, const float* x,
                                      const std::vector<runtime::bfloat16>& xb, const float* W,
                                      const std::vector<runtime::bfloat16>& Wb, float* dx, float* dW, float* db) {
    if (!bf16_) return layer.backward(stream_, dy, x, W, dx, dW, db);
    layer.backward(stream_, dy, xb.data(), Wb.data(), dx, dW, db);
}

const float* ViTTrainSession::forward(const ViTParameters& p, const float* images) {
    ViTActivations& a = acts_;
    const int64_t NT = N * T, prefix = T - Np, image_values = Np * arch_.patch_values();
    const int64_t image_size = C * arch_.config.image_height * arch_.config.image_width;
    const bool shifted = arch_.config.shifted_patches;
    for (int64_t n = 0; n < N; ++n)
        patch_vectors(images + n * image_size, static_cast<int>(C), arch_.config.image_height, arch_.config.image_width,
                      static_cast<int>(P), shifted, shifted_, a.patches.data() + n * image_values);
    // patch tokens = (LN_patch(token vectors) when shifted) W_patch^T + b_patch
    if (shifted)
        patch_norm_.forward(stream_, a.patches.data(), p.patch_norm_w, p.patch_norm_b, a.patches_normed.data(),
                            a.patch_mean.data(), a.patch_var.data());
    linear_forward(patch_, shifted ? a.patches_normed.data() : a.patches.data(), a.patches_bf16, p.patch_w,
                   patch_w_bf16_, p.patch_b, a.patch_tokens.data());
    stream_.wait();

    // tokens[n] = [class token; patch tokens of image n] + position
    const float* position = p.pos ? p.pos : fixed_position_.data();
    for (int64_t n = 0; n < N; ++n) {
        float* x = a.tokens.data() + n * T * D;
        if (prefix) std::memcpy(x, p.cls, D * sizeof(float));
        std::memcpy(x + prefix * D, a.patch_tokens.data() + n * Np * D, Np * D * sizeof(float));
        add_into(x, position, T * D);
    }

    const float* x = a.tokens.data();
    for (size_t l = 0; l < a.blocks.size(); ++l) {
        const ViTBlockParameters& w = p.blocks[l];
        ViTBlockActivations& b = a.blocks[l];
        BlockWeightsBF16& wb = block_weights_bf16_[l];  // empty in f32
        // x_mid = x + proj(attention(LN1(x)))
        norm_.forward(stream_, x, w.ln1_w, w.ln1_b, b.ln1.data(), b.ln1_mean.data(), b.ln1_var.data());
        linear_forward(qkv_, b.ln1.data(), b.ln1_bf16, w.qkv_w, wb.qkv, w.qkv_b, b.qkv.data());
        if (w.log_temperature) {
            stream_.wait();
            scale_queries(w.log_temperature, b.qkv.data());
        }
        if (tiled_) {
            stream_.wait();
            runtime::tiled_attention_forward_packed(attention_shape(), b.qkv.data(), b.context.data(), b.lse.data());
        } else {
            attention_.forward(stream_, b.qkv.data(), b.probs.data(), b.context.data(),
                               bf16_ ? b.probs_bf16.data() : nullptr);
        }
        stream_.wait();
        std::memcpy(b.mid.data(), x, NT * D * sizeof(float));
        linear_forward(proj_, b.context.data(), b.context_bf16, w.proj_w, wb.proj, w.proj_b, b.mid.data());
        // x_out = x_mid + fc2(GELU(fc1(LN2(x_mid))))
        norm_.forward(stream_, b.mid.data(), w.ln2_w, w.ln2_b, b.ln2.data(), b.ln2_mean.data(), b.ln2_var.data());
        linear_forward(fc1_, b.ln2.data(), b.ln2_bf16, w.fc1_w, wb.fc1, w.fc1_b, b.fc1.data());
        gelu_.forward(stream_, b.fc1.data(), b.gelu.data());
        stream_.wait();
        std::memcpy(b.out.data(), b.mid.data(), NT * D * sizeof(float));
        linear_forward(fc2_, b.gelu.data(), b.gelu_bf16, w.fc2_w, wb.fc2, w.fc2_b, b.out.data());
        x = b.out.data();
    }
    norm_.forward(stream_, x, p.norm_w, p.norm_b, a.norm.data(), a.norm_mean.data(), a.norm_var.data());
    stream_.wait();

    // pooled[n] = the class token of image n, or the mean of its patch tokens
    for (int64_t n = 0; n < N; ++n) {
        const float* tokens = a.norm.data() + n * T * D;
        float* out = a.pooled.data() + n * D;
        if (arch_.config.pooling == Pooling::Cls) {
            std::memcpy(out, tokens, D * sizeof(float));
            continue;
        }
        std::fill(out, out + D, 0.0f);
        for (int64_t t = prefix; t < T; ++t) add_into(out, tokens + t * D, D);
        for (int64_t d = 0; d < D; ++d) out[d] /= static_cast<float>(Np);
    }
    linear_forward(head_, a.pooled.data(), a.pooled_bf16, p.head_w, head_w_bf16_, p.head_b, a.logits.data());
    stream_.wait();
    return a.logits.data();
}

void ViTTrainSession::backward(const ViTParameters& p, const ViTParameters& g, const float* dlogits) {
    const ViTActivations& a = acts_;
    const int64_t NT = N * T, prefix = T - Np;
    linear_backward(head_, dlogits, a.pooled.data(), a.pooled_bf16, p.head_w, head_w_bf16_, dpooled_.data(), g.head_w,
                    g.head_b);

    // dnormed: the pooled gradient back on the tokens it came from
    std::fill(dnormed_.begin(), dnormed_.end(), 0.0f);
    for (int64_t n = 0; n < N; ++n) {
        const float* dp = dpooled_.data() + n * D;
        float* dt = dnormed_.data() + n * T * D;
        if (arch_.config.pooling == Pooling::Cls) {
            std::memcpy(dt, dp, D * sizeof(float));
            continue;
        }
        for (int64_t t = prefix; t < T; ++t)
            for (int64_t d = 0; d < D; ++d) dt[t * D + d] = dp[d] / static_cast<float>(Np);
    }
    const float* last = a.blocks.empty() ? a.tokens.data() : a.blocks.back().out.data();
    norm_.backward(stream_, dnormed_.data(), last, a.norm_mean.data(), a.norm_var.data(), p.norm_w, p.norm_b,
                   dresidual_.data(), g.norm_w, g.norm_b);

    for (size_t l = a.blocks.size(); l-- > 0;) {
        const ViTBlockParameters& w = p.blocks[l];
        const ViTBlockParameters& gw = g.blocks[l];
        const ViTBlockActivations& b = a.blocks[l];
        const BlockWeightsBF16& wb = block_weights_bf16_[l];  // empty in f32
        const float* x = l == 0 ? a.tokens.data() : a.blocks[l - 1].out.data();
        // dresidual holds d x_out: through fc2, GELU, fc1 and LN2 to d x_mid
        linear_backward(fc2_, dresidual_.data(), b.gelu.data(), b.gelu_bf16, w.fc2_w, wb.fc2, dgelu_.data(), gw.fc2_w,
                        gw.fc2_b);
        gelu_.backward(stream_, dgelu_.data(), b.fc1.data(), dfc1_.data());
        linear_backward(fc1_, dfc1_.data(), b.ln2.data(), b.ln2_bf16, w.fc1_w, wb.fc1, dnormed_.data(), gw.fc1_w,
                        gw.fc1_b);
        norm_.backward(stream_, dnormed_.data(), b.mid.data(), b.ln2_mean.data(), b.ln2_var.data(), w.ln2_w, w.ln2_b,
                       dln_in_.data(), gw.ln2_w, gw.ln2_b);
        stream_.wait();
        add_into(dresidual_.data(), dln_in_.data(), NT * D);
        // dresidual holds d x_mid: through proj, attention, qkv and LN1 to d x
        linear_backward(proj_, dresidual_.data(), b.context.data(), b.context_bf16, w.proj_w, wb.proj,
                        dcontext_.data(), gw.proj_w, gw.proj_b);
        if (tiled_) {
            stream_.wait();
            runtime::tiled_attention_backward_packed(attention_shape(), b.qkv.data(), b.context.data(), b.lse.data(),
                                                     dcontext_.data(), dqkv_.data());
        } else {
            attention_.backward(stream_, b.qkv.data(), b.probs.data(), dcontext_.data(), dqkv_.data(), dprobs_.data(),
                                dscores_.data(), bf16_ ? b.probs_bf16.data() : nullptr);
        }
        if (w.log_temperature) {
            stream_.wait();
            temperature_backward(w.log_temperature, b.qkv.data(), dqkv_.data(), gw.log_temperature);
        }
        linear_backward(qkv_, dqkv_.data(), b.ln1.data(), b.ln1_bf16, w.qkv_w, wb.qkv, dnormed_.data(), gw.qkv_w,
                        gw.qkv_b);
        norm_.backward(stream_, dnormed_.data(), x, b.ln1_mean.data(), b.ln1_var.data(), w.ln1_w, w.ln1_b,
                       dln_in_.data(), gw.ln1_w, gw.ln1_b);
        stream_.wait();
        add_into(dresidual_.data(), dln_in_.data(), NT * D);
    }

    // tokens = [cls; patch tokens] + position
    if (g.pos) std::fill(g.pos, g.pos + T * D, 0.0f);
    if (g.cls) std::fill(g.cls, g.cls + D, 0.0f);
    for (int64_t n = 0; n < N; ++n) {
        const float* dx = dresidual_.data() + n * T * D;
        if (g.pos) add_into(g.pos, dx, T * D);
        if (g.cls) add_into(g.cls, dx, D);
        std::memcpy(dpatch_tokens_.data() + n * Np * D, dx + prefix * D, Np * D * sizeof(float));
    }
    if (!arch_.config.shifted_patches)
        return linear_backward(patch_, dpatch_tokens_.data(), a.patches.data(), a.patches_bf16, p.patch_w,
                               patch_w_bf16_, nullptr, g.patch_w, g.patch_b);
    linear_backward(patch_, dpatch_tokens_.data(), a.patches_normed.data(), a.patches_bf16, p.patch_w, patch_w_bf16_,
                    dpatches_normed_.data(), g.patch_w, g.patch_b);
    // The token vectors are data: their gradient (dpatches_) is computed and dropped.
    patch_norm_.backward(stream_, dpatches_normed_.data(), a.patches.data(), a.patch_mean.data(), a.patch_var.data(),
                         p.patch_norm_w, p.patch_norm_b, dpatches_.data(), g.patch_norm_w, g.patch_norm_b);
    stream_.wait();
}

// Q_scaled = Q exp(t_h) sqrt(Dh) for head h's columns of every row's queries.
void ViTTrainSession::scale_queries(const float* log_temperature, float* qkv) const {
    const int64_t Dh = D / H;
    for (int64_t h = 0; h < H; ++h) {
        // The loader refuses a model outside this range, so training stops rather than write one.
        if (!(std::abs(log_temperature[h]) <= kMaxLogTemperature))
            throw Error("locality self-attention: head " + std::to_string(h + 1) + "'s log-temperature reached " +
                        std::to_string(log_temperature[h]) + ", outside [-30, 30]; training diverged (try a lower --lr)");
        const float factor = std::exp(log_temperature[h]) * std::sqrt(static_cast<float>(Dh));
        for (int64_t row = 0; row < N * T; ++row) {
            float* q = qkv + row * 3 * D + h * Dh;
#pragma omp simd
            for (int64_t d = 0; d < Dh; ++d) q[d] *= factor;
        }
    }
}

// With Q_scaled = Q f_h, f_h = exp(t_h) sqrt(Dh):  d t_h = sum dQ_scaled * Q_scaled (over head h's
// columns of every row), and dQ = dQ_scaled f_h, written over dQ_scaled in dqkv.
void ViTTrainSession::temperature_backward(const float* log_temperature, const float* qkv, float* dqkv,
                                           float* dlog_temperature) const {
    const int64_t Dh = D / H;
    for (int64_t h = 0; h < H; ++h) {
        const float factor = std::exp(log_temperature[h]) * std::sqrt(static_cast<float>(Dh));
        double sum = 0;
        for (int64_t row = 0; row < N * T; ++row) {
            const float* q = qkv + row * 3 * D + h * Dh;
            float* dq = dqkv + row * 3 * D + h * Dh;
            float partial = 0;
#pragma omp simd reduction(+ : partial)
            for (int64_t d = 0; d < Dh; ++d) {
                partial += dq[d] * q[d];
                dq[d] *= factor;
            }
            sum += partial;
        }
        dlog_temperature[h] = static_cast<float>(sum);
    }
}

std::vector<std::string> ViTTrainSession::implementations() const {
    std::vector<std::string> all;
    for (const auto* linear : {&patch_, &qkv_, &proj_, &fc1_, &fc2_, &head_})
        for (const std::string& s : linear->implementations()) all.push_back(s);
    if (arch_.config.shifted_patches)
        for (const std::string& s : patch_norm_.implementations()) all.push_back(s);
    for (const auto& list : {norm_.implementations(), gelu_.implementations(), attention_.implementations()})
        all.insert(all.end(), list.begin(), list.end());
    return all;
}

}  // namespace vitc::train
