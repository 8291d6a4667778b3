#include "models/vit.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <iomanip>
#include <sstream>

#include "errors.hpp"
#include "models/probes.hpp"
#include "image/shifted_patches.hpp"
#include "models/position_embedding.hpp"
#include "runtime/attention_kernel.hpp"
#include "runtime/self_mask.hpp"
#include "runtime/threads.hpp"
#include "runtime/tiled_attention.hpp"

namespace vitc {

using runtime::Args;
using runtime::plain_desc;
using runtime::strided_desc;
using dnnl::memory;

namespace {

// Counts values, not shapes: an absent tensor (no class token, fixed positions, no patch
// LayerNorm) has no shape, whose product would be 1.
int64_t count_parameters(const ViTWeights& w) {
    int64_t n = 0;
    for (const Tensor* t : {&w.patch_weight, &w.patch_bias, &w.patch_norm_weight, &w.patch_norm_bias, &w.class_token,
                            &w.position_embedding, &w.norm_weight, &w.norm_bias, &w.head_weight, &w.head_bias})
        n += static_cast<int64_t>(t->values.size());
    for (const auto& b : w.blocks)
        for (const Tensor* t : {&b.ln1_weight, &b.ln1_bias, &b.qkv_weight, &b.qkv_bias, &b.proj_weight, &b.proj_bias,
                                &b.ln2_weight, &b.ln2_bias, &b.fc1_weight, &b.fc1_bias, &b.fc2_weight, &b.fc2_bias,
                                &b.log_temperature})
            n += static_cast<int64_t>(t->values.size());
    return n;
}

dnnl::post_ops residual_add() {  // dst += result
    dnnl::post_ops ops;
    ops.append_sum(1.0f);
    return ops;
}

dnnl::post_ops gelu() {  // exact GELU, x * Phi(x)
    dnnl::post_ops ops;
    ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_gelu_erf, 0.0f, 0.0f);
    return ops;
}

// Bytes per token of a session's activations, whichever the kernel: patches, patch tokens, x,
// normed (twice in bf16), qkv, context, MLP hidden, positions; f32 counted throughout.
int64_t activation_bytes_per_token(const ViTConfig& c) {
    const int64_t D = c.hidden_size;
    return (9 * D + c.intermediate_size + patch_vector_size(c.num_channels, c.patch_size, c.shifted_patches)) *
           static_cast<int64_t>(sizeof(float));
}

// Refuses a session whose buffers would not fit in this machine's memory, naming the numbers
// (and, for the full kernel, the way out).
void check_session_memory(const ViTConfig& c, int64_t N, int64_t T, runtime::AttentionKernel kernel) {
    const double memory = static_cast<double>(runtime::physical_memory_bytes());
    const double activations = static_cast<double>(N) * T * activation_bytes_per_token(c);
    const double scores =
        kernel == runtime::AttentionKernel::Full ? static_cast<double>(runtime::full_attention_bytes(N, c.num_heads, T)) : 0;
    if (activations + scores <= memory) return;
    auto text = [](double bytes) {
        std::ostringstream out;
        out << std::fixed << std::setprecision(1) << bytes / (1024.0 * 1024.0 * 1024.0) << " GiB";
        return out.str();
    };
    throw Error(std::to_string(N) + " image(s) of " + std::to_string(T) + " tokens need " + text(activations) +
                " of activations" + (scores > 0 ? " and " + text(scores) + " of attention scores (full kernel; --attention tiled keeps them out of memory)" : "") +
                ", more than this machine's " + text(memory));
}

// The forward pass for `batch` images of height x width. Everything is built in the
// constructor, argument lists included; run() only patchifies and executes.
class ViTSession : public Session, public AttentionProbe {
public:
    ViTSession(const ViTModel& model, int batch, int height, int width);
    void run(const float* images, float* logits) override;
    void observe_attention(AttentionObserver observer) override;
    int64_t buffer_bytes() const override { return buffer_bytes_; }

private:
    void linear(runtime::LinearLayer& layer, const memory& src, const runtime::LinearWeights& w, const memory& dst);
    void assemble_tokens();
    void attention(const ViTBlockParameters& block);
    void tiled_attention();  // context = softmax(Q K^T / sqrt(Dh)) V from qkv_, block by block
    void mlp(const ViTBlockParameters& block);
    void layer_norm(const memory& scale, const memory& shift);  // normed = LN(x)
    void tokenize(const float* images);  // patches_ = the images' token vectors (normalised when shifted)
    void pool();

    const ViTModel& model_;
    AttentionObserver attention_observer_;  // empty unless an explanation asks
    // N images, T tokens of width D, H heads of width Dh, MLP width M, K classes.
    int64_t N, C, P, grid_h, grid_w, patches, T, D, H, Dh, M, K;
    int64_t patch_values;          // per token: C*P*P, or 5*C*P*P with shifted patch tokens
    std::vector<float> position_;  // [T, D]
    std::vector<float> shifted_;   // one image's stack of shifted copies [5C, H, W] (shifted only)
    dnnl::stream stream_;

    memory patches_;       // [N * patches, patch_values]
    memory patch_tokens_;  // [N * patches, D]
    memory x_;             // [N * T, D] the residual stream
    // Buffers marked (a) hold activations between matmuls: bf16 in bf16 mode, else f32 (int8
    // quantises inside each Linear layer).
    memory normed_;        // [N * T, D] LayerNorm output, f32
    memory normed_a_;      // (a) the same values converted; normed_ itself unless bf16
    memory qkv_;           // (a) [N * T, 3D]
    memory queries_, keys_transposed_, values_;  // views of qkv_ per head: [N, H, T, Dh], [N, H, Dh, T]
    runtime::AttentionKernel attention_kernel_;  // full or tiled (runtime/attention_kernel.hpp)
    memory scores_;        // [N, H, T, T] f32 (full kernel only)
    memory probabilities_; // (a) softmax(scores); scores_ itself unless bf16 (full kernel only)
    memory context_;       // (a) [N * T, D]; context_heads_ is the same buffer as [N, H, T, Dh]
    memory context_heads_;
    memory hidden_;        // (a) [N * T, M]
    memory pooled_;        // [N, D]
    memory logits_;        // [N, K]
    memory scratchpad_;

    runtime::LinearLayer patch_embed_, qkv_proj_, out_proj_, fc1_, fc2_, head_;
    dnnl::matmul attention_scores_, attention_context_;
    dnnl::layer_normalization_forward token_norm_;
    dnnl::layer_normalization_forward patch_norm_;  // in place on patches_ (shifted patch tokens only)
    dnnl::softmax_v2_forward softmax_;
    dnnl::reorder to_activation_type_;  // normed_ -> normed_a_ (bf16 only)
    bool converts_ = false;
    int64_t buffer_bytes_ = 0;
    // Each primitive's arguments, built once; per call only LayerNorm's scale and shift change.
    Args norm_args_, convert_args_, scores_args_, softmax_args_, context_args_, patch_norm_args_;
};

ViTSession::ViTSession(const ViTModel& model, int batch, int height, int width)
    : model_(model), stream_(runtime::cpu_engine()) {
    const ViTConfig& cfg = model.config();
    N = batch;
    C = cfg.num_channels;
    P = cfg.patch_size;
    if (batch < 1) throw Error("batch size must be at least 1");
    if (height % P || width % P || height < P || width < P)
        throw Error("input " + std::to_string(height) + "x" + std::to_string(width) + " is not divisible into " +
                    std::to_string(P) + "-pixel patches");
    grid_h = height / P;
    grid_w = width / P;
    patches = grid_h * grid_w;
    T = patches + (model.has_class_token() ? 1 : 0);
    D = cfg.hidden_size;
    H = cfg.num_heads;
    Dh = D / H;
    M = cfg.intermediate_size;
    K = static_cast<int64_t>(cfg.labels.size());
    patch_values = patch_vector_size(static_cast<int>(C), static_cast<int>(P), cfg.shifted_patches);
    if (cfg.locality_attention && T < 2)
        throw Error("locality self-attention needs at least 2 tokens (a token may not attend to itself); this input "
                    "gives " + std::to_string(T));
    attention_kernel_ = runtime::choose_attention_kernel(runtime::attention_kernel(), N, H, T);
    const bool full = attention_kernel_ == runtime::AttentionKernel::Full;
    check_session_memory(cfg, N, T, attention_kernel_);
    position_ = model.position_embedding(static_cast<int>(grid_h), static_cast<int>(grid_w));

    const auto& engine = runtime::cpu_engine();
    const auto a = activation_data_type(model.precision()), f32 = memory::data_type::f32;
    converts_ = a != f32;

    // Patch embedding and the Linear layers: rows are tokens of all images.
    const ViTBlockParameters& b0 = model.blocks().front();
    patch_embed_ = runtime::LinearLayer(N * patches, model.patch_embedding());
    qkv_proj_ = runtime::LinearLayer(N * T, b0.qkv, dnnl::post_ops(), a);
    out_proj_ = runtime::LinearLayer(N * T, b0.proj, residual_add());
    fc1_ = runtime::LinearLayer(N * T, b0.fc1, gelu(), a);
    fc2_ = runtime::LinearLayer(N * T, b0.fc2, residual_add());
    head_ = runtime::LinearLayer(N, model.head());

    // Attention as batched matmuls over (image, head), reading Q, K, V in place from the qkv
    // buffer [N*T, 3D]: head h of Q is columns h*Dh..h*Dh+Dh-1, K follows at +D, V at +2D.
    const memory::desc q_desc = strided_desc({N, H, T, Dh}, {T * 3 * D, Dh, 3 * D, 1}, a);
    const memory::desc kt_desc = strided_desc({N, H, Dh, T}, {T * 3 * D, Dh, 1, 3 * D}, a);
    const memory::desc scores_desc = plain_desc({N, H, T, T});
    const memory::desc probabilities_desc = plain_desc({N, H, T, T}, a);
    const memory::desc context_desc = strided_desc({N, H, T, Dh}, {T * D, Dh, D, 1}, a);
    dnnl::matmul::primitive_desc scores_pd, context_pd;
    dnnl::softmax_v2_forward::primitive_desc softmax_pd;
    if (full) {
        scores_pd = dnnl::matmul::primitive_desc(
            dnnl::matmul::desc(q_desc, kt_desc, scores_desc),
            runtime::user_scratchpad_attr(dnnl::post_ops(), 1.0f / std::sqrt(static_cast<float>(Dh))), engine);
        context_pd = dnnl::matmul::primitive_desc(dnnl::matmul::desc(probabilities_desc, q_desc, context_desc),
                                                  runtime::user_scratchpad_attr(), engine);
        softmax_pd = dnnl::softmax_v2_forward::primitive_desc(
            dnnl::softmax_v2_forward::desc(dnnl::prop_kind::forward_inference, dnnl::algorithm::softmax_accurate,
                                           scores_desc, probabilities_desc, 3),
            runtime::user_scratchpad_attr(), engine);
        attention_scores_ = dnnl::matmul(scores_pd);
        attention_context_ = dnnl::matmul(context_pd);
        softmax_ = dnnl::softmax_v2_forward(softmax_pd);
    }
    const auto norm_pd = dnnl::layer_normalization_forward::primitive_desc(
        dnnl::layer_normalization_forward::desc(dnnl::prop_kind::forward_inference, plain_desc({N * T, D}),
                                                cfg.layer_norm_eps,
                                                dnnl::normalization_flags::use_scale | dnnl::normalization_flags::use_shift),
        runtime::user_scratchpad_attr(), engine);
    token_norm_ = dnnl::layer_normalization_forward(norm_pd);
    dnnl::layer_normalization_forward::primitive_desc patch_norm_pd;
    if (cfg.shifted_patches) {
        patch_norm_pd = dnnl::layer_normalization_forward::primitive_desc(
            dnnl::layer_normalization_forward::desc(
                dnnl::prop_kind::forward_inference, plain_desc({N * patches, patch_values}), cfg.layer_norm_eps,
                dnnl::normalization_flags::use_scale | dnnl::normalization_flags::use_shift),
            runtime::user_scratchpad_attr(), engine);
        patch_norm_ = dnnl::layer_normalization_forward(patch_norm_pd);
    }

    // One scratchpad, big enough for every primitive (they run one at a time).
    size_t scratchpad_bytes = 0;
    for (size_t bytes : {patch_embed_.scratchpad_bytes(), qkv_proj_.scratchpad_bytes(), out_proj_.scratchpad_bytes(),
                         fc1_.scratchpad_bytes(), fc2_.scratchpad_bytes(), head_.scratchpad_bytes(),
                         full ? scores_pd.scratchpad_desc().get_size() : 0,
                         full ? context_pd.scratchpad_desc().get_size() : 0,
                         full ? softmax_pd.scratchpad_desc().get_size() : 0, norm_pd.scratchpad_desc().get_size(),
                         cfg.shifted_patches ? patch_norm_pd.scratchpad_desc().get_size() : 0})
        scratchpad_bytes = std::max(scratchpad_bytes, bytes);

    patches_ = memory(plain_desc({N * patches, patch_values}), engine);
    patch_tokens_ = memory(plain_desc({N * patches, D}), engine);
    x_ = memory(plain_desc({N * T, D}), engine);
    normed_ = memory(plain_desc({N * T, D}), engine);
    normed_a_ = converts_ ? memory(plain_desc({N * T, D}, a), engine) : normed_;
    if (converts_) to_activation_type_ = dnnl::reorder(normed_, normed_a_);
    qkv_ = memory(plain_desc({N * T, 3 * D}, a), engine);
    // Q, K and V start D and 2D elements into each row of qkv_.
    char* qkv = static_cast<char*>(qkv_.get_data_handle());
    const size_t element = memory::data_type_size(a);
    queries_ = memory(q_desc, engine, qkv);
    keys_transposed_ = memory(kt_desc, engine, qkv + D * element);
    values_ = memory(q_desc, engine, qkv + 2 * D * element);
    if (full) {
        scores_ = memory(scores_desc, engine);
        probabilities_ = converts_ ? memory(probabilities_desc, engine) : scores_;
    }
    context_ = memory(plain_desc({N * T, D}, a), engine);
    context_heads_ = memory(context_desc, engine, context_.get_data_handle());
    hidden_ = memory(plain_desc({N * T, M}, a), engine);
    pooled_ = memory(plain_desc({N, D}), engine);
    logits_ = memory(plain_desc({N, K}), engine);
    scratchpad_ = memory(memory::desc({static_cast<int64_t>(scratchpad_bytes)}, memory::data_type::u8, memory::format_tag::a),
                         engine);

    norm_args_ = {{DNNL_ARG_SRC, x_}, {DNNL_ARG_DST, normed_}, {DNNL_ARG_SCALE, model.norm_scale()},
                  {DNNL_ARG_SHIFT, model.norm_shift()}, {DNNL_ARG_SCRATCHPAD, scratchpad_}};
    convert_args_ = {{DNNL_ARG_FROM, normed_}, {DNNL_ARG_TO, normed_a_}};
    scores_args_ = {{DNNL_ARG_SRC, queries_}, {DNNL_ARG_WEIGHTS, keys_transposed_}, {DNNL_ARG_DST, scores_},
                    {DNNL_ARG_SCRATCHPAD, scratchpad_}};
    softmax_args_ = {{DNNL_ARG_SRC, scores_}, {DNNL_ARG_DST, probabilities_}, {DNNL_ARG_SCRATCHPAD, scratchpad_}};
    context_args_ = {{DNNL_ARG_SRC, probabilities_}, {DNNL_ARG_WEIGHTS, values_}, {DNNL_ARG_DST, context_heads_},
                     {DNNL_ARG_SCRATCHPAD, scratchpad_}};
    if (cfg.shifted_patches)
        patch_norm_args_ = {{DNNL_ARG_SRC, patches_}, {DNNL_ARG_DST, patches_}, {DNNL_ARG_SCALE, model.patch_norm_scale()},
                            {DNNL_ARG_SHIFT, model.patch_norm_shift()}, {DNNL_ARG_SCRATCHPAD, scratchpad_}};

    buffer_bytes_ = static_cast<int64_t>(position_.size() * sizeof(float));
    if (cfg.shifted_patches) buffer_bytes_ += kShiftedCopies * C * height * width * int64_t(sizeof(float));
    for (const memory* owned : {&patches_, &patch_tokens_, &x_, &normed_, &qkv_, &context_, &hidden_, &pooled_,
                                &logits_, &scratchpad_})
        buffer_bytes_ += owned->get_desc().get_size();
    if (converts_) buffer_bytes_ += normed_a_.get_desc().get_size();
    if (full) buffer_bytes_ += scores_.get_desc().get_size() + (converts_ ? probabilities_.get_desc().get_size() : 0);
    else buffer_bytes_ += runtime::tiled_attention_scratch_bytes({N, H, T, Dh}, runtime::max_threads());
    for (const auto* layer : {&patch_embed_, &qkv_proj_, &out_proj_, &fc1_, &fc2_, &head_})
        buffer_bytes_ += layer->buffer_bytes();
}

void ViTSession::linear(runtime::LinearLayer& layer, const memory& src, const runtime::LinearWeights& w,
                        const memory& dst) {
    layer.run(stream_, src, w, dst, scratchpad_);
}

void ViTSession::run(const float* images, float* logits) {
    tokenize(images);
    linear(patch_embed_, patches_, model_.patch_embedding(), patch_tokens_);
    assemble_tokens();

    for (const ViTBlockParameters& block : model_.blocks()) {
        layer_norm(block.ln1_scale, block.ln1_shift);
        attention(block);  // x += proj(attention(normed))
        layer_norm(block.ln2_scale, block.ln2_shift);
        mlp(block);        // x += fc2(gelu(fc1(normed)))
    }

    layer_norm(model_.norm_scale(), model_.norm_shift());
    pool();
    linear(head_, pooled_, model_.head(), logits_);
    stream_.wait();
    std::memcpy(logits, logits_.get_data_handle(), N * K * sizeof(float));
}

// patches_[n] = the token vectors of image n: its patches, or with shifted patch tokens the
// patches of its stack of shifted copies, each vector then normalised (LayerNorm).
void ViTSession::tokenize(const float* images) {
    const int64_t height = grid_h * P, width = grid_w * P, image_size = C * height * width;
    float* patch_data = static_cast<float*>(patches_.get_data_handle());
    const bool shifted = model_.config().shifted_patches;
    for (int64_t n = 0; n < N; ++n)
        patch_vectors(images + n * image_size, static_cast<int>(C), static_cast<int>(height), static_cast<int>(width),
                      static_cast<int>(P), shifted, shifted_, patch_data + n * patches * patch_values);
    if (shifted) patch_norm_.execute(stream_, patch_norm_args_);
}

// x[n] = [class token; patch tokens of image n] + position
void ViTSession::assemble_tokens() {
    stream_.wait();
    const float* patch_tokens = static_cast<const float*>(patch_tokens_.get_data_handle());
    float* x = static_cast<float*>(x_.get_data_handle());
    const int64_t prefix = T - patches;
    for (int64_t n = 0; n < N; ++n) {
        float* tokens = x + n * T * D;
        if (prefix) std::memcpy(tokens, model_.class_token().data(), D * sizeof(float));
        std::memcpy(tokens + prefix * D, patch_tokens + n * patches * D, patches * D * sizeof(float));
        for (int64_t i = 0; i < T * D; ++i) tokens[i] += position_[i];
    }
}

// normed = LayerNorm(x), in f32, then converted for the matmuls that read it (bf16 mode).
void ViTSession::layer_norm(const memory& scale, const memory& shift) {
    norm_args_[DNNL_ARG_SCALE] = scale;
    norm_args_[DNNL_ARG_SHIFT] = shift;
    token_norm_.execute(stream_, norm_args_);
    if (converts_) to_activation_type_.execute(stream_, convert_args_);
}

// Multi-head self-attention on the normalised tokens, added to the residual stream:
//   [Q K V] = normed W_qkv^T + b_qkv
//   scores  = Q K^T / sqrt(Dh)          per image and head, [N, H, T, T]
//   context = softmax(scores) V         written back as [N*T, D], heads side by side
//   x      += context W_o^T + b_o
void ViTSession::attention(const ViTBlockParameters& block) {
    linear(qkv_proj_, normed_a_, block.qkv, qkv_);
    if (attention_kernel_ == runtime::AttentionKernel::Tiled) {
        tiled_attention();
        linear(out_proj_, context_, block.proj, x_);
        return;
    }
    attention_scores_.execute(stream_, scores_args_);  // queries_ x keys_transposed_ / sqrt(Dh) -> scores_
    const bool exclude_self = model_.config().locality_attention;
    if (exclude_self) {  // locality self-attention: no token attends to itself
        stream_.wait();
        runtime::mask_self_scores(static_cast<float*>(scores_.get_data_handle()), N * H, T);
    }
    softmax_.execute(stream_, softmax_args_);          // scores_ -> probabilities_
    if (exclude_self) {
        stream_.wait();
        if (converts_) runtime::zero_self_probabilities(static_cast<runtime::bfloat16*>(probabilities_.get_data_handle()), N * H, T);
        else runtime::zero_self_probabilities(static_cast<float*>(probabilities_.get_data_handle()), N * H, T);
    }
    if (attention_observer_) {  // explain/: attention rollout reads every layer's probabilities
        stream_.wait();
        attention_observer_(static_cast<int>(&block - model_.blocks().data()), probabilities_);
    }
    attention_context_.execute(stream_, context_args_);  // probabilities_ x values_ -> context_heads_
    linear(out_proj_, context_, block.proj, x_);
}

// The same context from the same qkv_ buffer, in memory O(T) per head: query blocks against key
// blocks with a running softmax (runtime/tiled_attention.hpp). bf16 mode reads and writes bf16.
void ViTSession::tiled_attention() {
    stream_.wait();
    const runtime::AttentionShape shape{N, H, T, Dh, model_.config().locality_attention};
    if (converts_) {
        const auto* qkv = static_cast<const runtime::bfloat16*>(qkv_.get_data_handle());
        auto* context = static_cast<runtime::bfloat16*>(context_.get_data_handle());
        using View = runtime::HeadsView<const runtime::bfloat16>;
        runtime::tiled_attention_forward(shape, View{qkv, T * 3 * D, Dh, 3 * D}, View{qkv + D, T * 3 * D, Dh, 3 * D},
                                         View{qkv + 2 * D, T * 3 * D, Dh, 3 * D}, {context, T * D, Dh, D}, nullptr);
    } else {
        runtime::tiled_attention_forward_packed(shape, static_cast<const float*>(qkv_.get_data_handle()),
                                                static_cast<float*>(context_.get_data_handle()), nullptr);
    }
}

void ViTSession::observe_attention(AttentionObserver observer) {
    if (attention_kernel_ != runtime::AttentionKernel::Full)
        throw Error("explanations read the attention probabilities, which the tiled attention kernel never stores (" +
                    std::to_string(T) + " tokens); run with --attention full");
    attention_observer_ = std::move(observer);
}

//   x += fc2(GELU(fc1(normed)))
void ViTSession::mlp(const ViTBlockParameters& block) {
    linear(fc1_, normed_a_, block.fc1, hidden_);
    linear(fc2_, hidden_, block.fc2, x_);
}

// pooled[n] = the class token of image n, or the mean of its patch tokens.
void ViTSession::pool() {
    stream_.wait();
    const float* normed = static_cast<const float*>(normed_.get_data_handle());
    float* pooled = static_cast<float*>(pooled_.get_data_handle());
    const int64_t prefix = T - patches;
    for (int64_t n = 0; n < N; ++n) {
        const float* tokens = normed + n * T * D;
        float* out = pooled + n * D;
        if (model_.config().pooling == Pooling::Cls) {
            std::memcpy(out, tokens, D * sizeof(float));
            continue;
        }
        std::fill(out, out + D, 0.0f);
        for (int64_t t = prefix; t < T; ++t)
            for (int64_t d = 0; d < D; ++d) out[d] += tokens[t * D + d];
        for (int64_t d = 0; d < D; ++d) out[d] /= static_cast<float>(patches);
    }
}

dnnl::memory vector_memory(const Tensor& t) { return runtime::copy_to_memory(t.values, {t.numel()}); }

// Locality self-attention's temperatures folded into the query rows of the qkv projection: the
// kernels scale scores by 1/sqrt(Dh), so head h's queries are multiplied by exp(t_h) sqrt(Dh),
// and the scores come out as exp(t_h) q.k at no cost per image.
void fold_temperature(const Tensor& log_temperature, int64_t D, Tensor& qkv_weight, Tensor& qkv_bias) {
    const int64_t H = log_temperature.numel(), Dh = D / H;
    for (int64_t h = 0; h < H; ++h) {
        const float factor = std::exp(log_temperature.values[h]) * std::sqrt(static_cast<float>(Dh));
        for (int64_t row = h * Dh; row < (h + 1) * Dh; ++row) {
            for (int64_t col = 0; col < D; ++col) qkv_weight.values[row * D + col] *= factor;
            qkv_bias.values[row] *= factor;
        }
    }
}

// The patch embedding is a Conv2d(C, D, P, stride P): on patchified input it is a Linear layer
// with weight [D, C*P*P] ([D, 5*C*P*P] with shifted patch tokens).
runtime::LinearWeights prepare_patch_embedding(const ViTWeights& w) {
    Tensor flat{{w.patch_weight.dim(0), w.patch_weight.numel() / w.patch_weight.dim(0)}, w.patch_weight.values};
    return runtime::prepare_linear(flat, w.patch_bias);
}

}  // namespace

ViTModel::ViTModel(ViTConfig config, Preprocessing preprocessing, WeightScheme scheme, const ViTWeights& weights,
                   Precision precision)
    : config_(std::move(config)), preprocessing_(std::move(preprocessing)), scheme_(scheme), precision_(precision),
      parameter_count_(count_parameters(weights)), class_token_(weights.class_token.values),
      trained_position_(weights.position_embedding.values), patch_embedding_(prepare_patch_embedding(weights)) {
    for (const ViTBlockWeights& w : weights.blocks) {
        ViTBlockParameters b;
        b.ln1_scale = vector_memory(w.ln1_weight);
        b.ln1_shift = vector_memory(w.ln1_bias);
        b.ln2_scale = vector_memory(w.ln2_weight);
        b.ln2_shift = vector_memory(w.ln2_bias);
        const auto type = weight_data_type(precision);
        if (config_.locality_attention) {
            Tensor qkv_weight = w.qkv_weight, qkv_bias = w.qkv_bias;
            fold_temperature(w.log_temperature, config_.hidden_size, qkv_weight, qkv_bias);
            b.qkv = runtime::prepare_linear(qkv_weight, qkv_bias, type);
        } else {
            b.qkv = runtime::prepare_linear(w.qkv_weight, w.qkv_bias, type);
        }
        b.proj = runtime::prepare_linear(w.proj_weight, w.proj_bias, type);
        b.fc1 = runtime::prepare_linear(w.fc1_weight, w.fc1_bias, type);
        b.fc2 = runtime::prepare_linear(w.fc2_weight, w.fc2_bias, type);
        blocks_.push_back(std::move(b));
    }
    if (config_.shifted_patches) {
        patch_norm_scale_ = vector_memory(weights.patch_norm_weight);
        patch_norm_shift_ = vector_memory(weights.patch_norm_bias);
    }
    norm_scale_ = vector_memory(weights.norm_weight);
    norm_shift_ = vector_memory(weights.norm_bias);
    head_ = runtime::prepare_linear(weights.head_weight, weights.head_bias);
}

std::vector<float> ViTModel::position_embedding(int grid_h, int grid_w) const {
    const int D = config_.hidden_size, prefix = has_class_token() ? 1 : 0;
    std::vector<float> out(static_cast<size_t>(prefix) * D, 0.0f);  // sincos: zero for the class token
    std::vector<float> grid;
    if (config_.position_embedding == PositionEmbeddingType::SinCos2D) {
        grid = sincos_2d_position_grid(grid_h, grid_w, D);
    } else {
        const int trained_h = config_.image_height / config_.patch_size, trained_w = config_.image_width / config_.patch_size;
        std::copy(trained_position_.begin(), trained_position_.begin() + prefix * D, out.begin());
        grid.assign(trained_position_.begin() + prefix * D, trained_position_.end());
        if (trained_h != grid_h || trained_w != grid_w)
            grid = resize_position_grid(grid, trained_h, trained_w, grid_h, grid_w, D);
    }
    out.insert(out.end(), grid.begin(), grid.end());
    return out;
}

TokenLimit vit_token_limit(const ViTConfig& config) {
    const int64_t by_memory = runtime::physical_memory_bytes() / activation_bytes_per_token(config);
    // Attention work per image, 4 T^2 D per block, up to kMaxAttentionFlops.
    const double per_token_squared = 4.0 * config.hidden_size * std::max(1, config.num_layers);
    const auto by_work = static_cast<int64_t>(std::sqrt(kMaxAttentionFlops / per_token_squared));
    if (by_memory <= by_work) return {by_memory, "what this machine's memory holds"};
    return {by_work, "attention work grows with its square: 10^15 FLOP per image at most"};
}

ModelSummary ViTModel::summary() const {
    const ViTConfig& c = config_;
    ModelSummary s;
    s.family = "vit";
    s.weight_scheme = weight_scheme_name(scheme_);
    s.precision = precision_name(precision_);
    s.parameters = parameter_count_;
    s.architecture = "ViT: " + std::to_string(c.num_layers) + " blocks, hidden " + std::to_string(c.hidden_size) + ", " +
                     std::to_string(c.num_heads) + " heads, MLP " + std::to_string(c.intermediate_size) + ", patch " +
                     std::to_string(c.patch_size) + ", input " + std::to_string(c.image_height) + "x" +
                     std::to_string(c.image_width) + "x" + std::to_string(c.num_channels) + ", " +
                     (c.pooling == Pooling::Cls ? "class-token" : "mean") + " pooling, " +
                     (c.position_embedding == PositionEmbeddingType::Learned ? "learned" : "sine-cosine") +
                     " positions" + (c.shifted_patches ? ", shifted patch tokens" : "") +
                     (c.locality_attention ? ", locality self-attention" : "");
    const int64_t patches = static_cast<int64_t>(c.image_height / c.patch_size) * (c.image_width / c.patch_size);
    const int64_t T = patches + (has_class_token() ? 1 : 0), D = c.hidden_size, M = c.intermediate_size;
    const int64_t per_block = 2 * T * D * 3 * D + 2 * 2 * T * T * D + 2 * T * D * D + 2 * 2 * T * D * M;
    s.flops_per_image = 2 * patches * patch_vector_size(c.num_channels, c.patch_size, c.shifted_patches) * D +
                        c.num_layers * per_block +
                        2 * D * static_cast<int64_t>(c.labels.size());
    return s;
}

std::unique_ptr<Session> ViTModel::create_session(int batch, int height, int width) const {
    return std::make_unique<ViTSession>(*this, batch, height, width);
}

}  // namespace vitc
