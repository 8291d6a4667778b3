#include "models/resnet.hpp"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "errors.hpp"
#include "models/probes.hpp"
#include "io/model_directory.hpp"
#include "models/fold_batch_norm.hpp"

namespace vitc {

using runtime::Args;
using runtime::plain_desc;
using dnnl::memory;

namespace {

// A descriptor whose layout the primitive chooses; `type` is the activations' (f32 or bf16).
memory::desc any_desc(const memory::dims& shape, memory::data_type type = memory::data_type::f32) {
    return memory::desc(shape, type, memory::format_tag::any);
}

dnnl::post_ops relu() {
    dnnl::post_ops ops;
    ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_relu, 0.0f, 0.0f);
    return ops;
}

dnnl::post_ops residual_add_relu() {  // dst = relu(result + dst), dst holding the identity
    dnnl::post_ops ops;
    ops.append_sum(1.0f);
    ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_relu, 0.0f, 0.0f);
    return ops;
}

dnnl::convolution_forward::primitive_desc convolution_pd(const ConvParameters& c, const memory::desc& src,
                                                         const memory::desc& weights, const memory::desc& dst,
                                                         const dnnl::post_ops& ops = dnnl::post_ops()) {
    const dnnl::convolution_forward::desc desc(dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct,
                                               src, weights, plain_desc({c.out}), dst, {c.stride, c.stride},
                                               {c.padding, c.padding}, {c.padding, c.padding});
    return dnnl::convolution_forward::primitive_desc(desc, runtime::user_scratchpad_attr(ops), runtime::cpu_engine());
}

memory::dims weight_dims(const ConvParameters& c) { return {c.out, c.in, c.kernel, c.kernel}; }

// Visits every convolution in execution order (stem; per block conv1, conv2 [, conv3], then its
// downsample) with the size of its input, for an input of height x width; returns the size of
// the last feature map. Throws Error at the first map that would be empty.
template <class Conv, class Blocks, class Visit>
std::pair<int64_t, int64_t> walk(Conv& stem, Blocks& blocks, bool maxpool, int64_t height, int64_t width, Visit visit) {
    const auto through = [&](auto& c, std::pair<int64_t, int64_t> in) {
        const std::pair<int64_t, int64_t> out{c.output_size(in.first), c.output_size(in.second)};
        if (out.first < 1 || out.second < 1)
            throw Error("input " + std::to_string(height) + "x" + std::to_string(width) + " is too small for this ResNet: " +
                        c.name + " would get a " + std::to_string(in.first) + "x" + std::to_string(in.second) + " map");
        visit(c, in.first, in.second);
        return out;
    };
    std::pair<int64_t, int64_t> size = through(stem, {height, width});
    if (maxpool) size = {(size.first - 1) / 2 + 1, (size.second - 1) / 2 + 1};  // 3x3, stride 2, pad 1
    for (auto& block : blocks) {
        std::pair<int64_t, int64_t> y = size;
        for (auto& c : block.convs) y = through(c, y);
        if (block.has_downsample) through(block.downsample, size);
        size = y;
    }
    return size;
}

ConvParameters geometry_of(const ConvBatchNormWeights& w) {
    ConvParameters c;
    c.name = w.name;
    c.out = w.conv_weight.dim(0);
    c.in = w.conv_weight.dim(1);
    c.kernel = w.conv_weight.dim(2);
    c.stride = w.stride;
    c.padding = w.padding;
    return c;
}

// Folds the BatchNorm in and reorders the weights, once, into the layout a convolution on a
// height x width input (batch 1) picks. A session whose convolution wants another layout makes
// its own copy (see ResNetSession::convolution), so this is a good guess, not a constraint.
// bf16: the folded weights are converted to bf16 by the same reorder.
void prepare(ConvParameters& c, const ConvBatchNormWeights& w, int64_t height, int64_t width, memory::data_type type) {
    const FoldedConv folded = fold_batch_norm(w.conv_weight, w.bn_weight, w.bn_bias, w.bn_mean, w.bn_var);
    const auto pd = convolution_pd(c, any_desc({1, c.in, height, width}, type), any_desc(weight_dims(c), type),
                                   any_desc({1, c.out, c.output_size(height), c.output_size(width)}, type));
    dnnl::memory user(plain_desc(weight_dims(c)), runtime::cpu_engine(), const_cast<float*>(folded.weight.values.data()));
    c.weights = memory(pd.weights_desc(), runtime::cpu_engine());
    dnnl::stream stream(runtime::cpu_engine());
    dnnl::reorder(user, c.weights).execute(stream, user, c.weights);
    stream.wait();
    c.bias = runtime::copy_to_memory(folded.bias.values, {c.out});
}

// The forward pass for `batch` images of height x width. Activations stay in the layouts the
// convolutions choose (format_tag::any: channels-last for oneDNN 2.6's brgemm convolutions on
// AVX-512, nChw16c/nChw8c blocks for others) from the first convolution to the global pooling;
// the images are reordered in once. Activations live in a few shared buffers ("slots") assigned
// at construction by liveness. run() only executes the prepared primitives.
class ResNetSession : public Session, public FeatureMapProbe {
public:
    ResNetSession(const ResNetModel& model, int batch, int height, int width);
    void run(const float* images, float* logits) override;
    int64_t buffer_bytes() const override;

    FeatureMapShape feature_shape() const override { return {N, F, feature_h, feature_w}; }
    void copy_features(float* out) override;
    const Tensor& classifier_weight() const override { return model_.fc_weight(); }
    const Tensor& classifier_bias() const override { return model_.fc_bias(); }

private:
    struct Activation {
        memory mem;
        int slot = -1;  // -1: not in a shared buffer (the caller's images)
    };
    Activation acquire(const memory::desc& desc);
    Activation alias(const Activation& a, const memory::desc& desc);  // same buffer, other view
    void release(const Activation& a);
    Activation in_layout(const Activation& a, const memory::desc& wanted);
    Activation convolution(const ConvParameters& c, const Activation& src, const dnnl::post_ops& ops,
                           const Activation* residual);
    void add(const dnnl::primitive& primitive, Args args);
    template <class PrimitiveDesc> PrimitiveDesc track(PrimitiveDesc pd);  // notes its scratchpad size

    const ResNetModel& model_;
    // N images of C x H x W; F features of feature_h x feature_w at the end; K classes.
    int64_t N, C, H, W, F, feature_h, feature_w, K;
    memory::data_type type_;  // of the activations and convolution weights: f32 or bf16
    dnnl::stream stream_;

    memory input_;              // the caller's images, [N, C, H, W]; handle set by run()
    Activation features_;       // the last block's output, kept for copy_features()
    memory features_plain_;     // [N, F, h, w]
    dnnl::reorder features_out_;
    memory logits_;             // [N, K]

    std::vector<size_t> slot_bytes_;
    std::vector<bool> slot_busy_;
    std::vector<std::pair<memory, int>> slot_views_;  // every activation and its slot
    std::vector<memory> slots_;
    std::vector<memory> own_weights_;  // weights re-laid out for this session's convolutions, if any
    std::vector<std::pair<dnnl::primitive, Args>> steps_;
    size_t scratchpad_bytes_ = 0;
    memory scratchpad_;
};

template <class PrimitiveDesc>
PrimitiveDesc ResNetSession::track(PrimitiveDesc pd) {
    scratchpad_bytes_ = std::max(scratchpad_bytes_, pd.scratchpad_desc().get_size());
    return pd;
}

ResNetSession::Activation ResNetSession::acquire(const memory::desc& desc) {
    int slot = 0;
    while (slot < static_cast<int>(slot_busy_.size()) && slot_busy_[slot]) ++slot;
    if (slot == static_cast<int>(slot_busy_.size())) {
        slot_busy_.push_back(false);
        slot_bytes_.push_back(0);
    }
    slot_busy_[slot] = true;
    slot_bytes_[slot] = std::max(slot_bytes_[slot], desc.get_size());
    Activation a{memory(desc, runtime::cpu_engine(), DNNL_MEMORY_NONE), slot};
    slot_views_.emplace_back(a.mem, slot);
    return a;
}

ResNetSession::Activation ResNetSession::alias(const Activation& a, const memory::desc& desc) {
    Activation view{memory(desc, runtime::cpu_engine(), DNNL_MEMORY_NONE), a.slot};
    slot_views_.emplace_back(view.mem, a.slot);
    return view;
}

void ResNetSession::release(const Activation& a) {
    if (a.slot >= 0) slot_busy_[a.slot] = false;
}

void ResNetSession::add(const dnnl::primitive& primitive, Args args) { steps_.emplace_back(primitive, std::move(args)); }

// `a` in the layout a primitive wants: itself, or a reordered copy (a step of the forward pass).
ResNetSession::Activation ResNetSession::in_layout(const Activation& a, const memory::desc& wanted) {
    if (a.mem.get_desc() == wanted) return a;
    const Activation copy = acquire(wanted);
    const auto pd = track(dnnl::reorder::primitive_desc(runtime::cpu_engine(), a.mem.get_desc(), runtime::cpu_engine(),
                                                         wanted, runtime::user_scratchpad_attr()));
    add(dnnl::reorder(pd), {{DNNL_ARG_SRC, a.mem}, {DNNL_ARG_DST, copy.mem}});
    return copy;
}

// dst = conv(src) + bias, then `ops`. With a residual, dst is the residual's own buffer (the sum
// post-op reads the identity there and overwrites it with the block's output).
ResNetSession::Activation ResNetSession::convolution(const ConvParameters& c, const Activation& src,
                                                     const dnnl::post_ops& ops, const Activation* residual) {
    const memory::dims in = src.mem.get_desc().dims();
    const memory::desc dst_desc =
        residual ? residual->mem.get_desc() : any_desc({N, c.out, c.output_size(in[2]), c.output_size(in[3])}, type_);
    const auto pd = track(convolution_pd(c, any_desc(in, type_), any_desc(weight_dims(c), type_), dst_desc, ops));
    const Activation input = in_layout(src, pd.src_desc());
    memory weights = c.weights;
    if (pd.weights_desc() != weights.get_desc()) {
        weights = memory(pd.weights_desc(), runtime::cpu_engine());
        memory stored = c.weights;
        dnnl::reorder(stored, weights).execute(stream_, stored, weights);
        stream_.wait();
        own_weights_.push_back(weights);
    }
    const Activation dst = residual ? *residual : acquire(pd.dst_desc());
    add(dnnl::convolution_forward(pd),
        {{DNNL_ARG_SRC, input.mem}, {DNNL_ARG_WEIGHTS, weights}, {DNNL_ARG_BIAS, c.bias}, {DNNL_ARG_DST, dst.mem}});
    if (input.mem != src.mem) release(input);
    return dst;
}

ResNetSession::ResNetSession(const ResNetModel& model, int batch, int height, int width)
    : model_(model), type_(weight_data_type(model.precision())), stream_(runtime::cpu_engine()) {
    const ResNetConfig& cfg = model.config();
    if (batch < 1) throw Error("batch size must be at least 1");
    N = batch;
    C = cfg.num_channels;
    H = height;
    W = width;
    F = cfg.features();
    K = static_cast<int64_t>(cfg.labels.size());
    const bool maxpool = cfg.stem == ResNetStem::ImageNet;
    std::tie(feature_h, feature_w) = walk(model.stem(), model.blocks(), maxpool, H, W, [](auto&, int64_t, int64_t) {});
    const auto& engine = runtime::cpu_engine();

    input_ = memory(plain_desc({N, C, H, W}), engine, DNNL_MEMORY_NONE);
    Activation x = convolution(model.stem(), Activation{input_, -1}, relu(), nullptr);
    if (maxpool) {
        const memory::dims in = x.mem.get_desc().dims();
        const auto pd = track(dnnl::pooling_forward::primitive_desc(
            dnnl::pooling_forward::desc(dnnl::prop_kind::forward_inference, dnnl::algorithm::pooling_max, x.mem.get_desc(),
                                        any_desc({N, in[1], (in[2] - 1) / 2 + 1, (in[3] - 1) / 2 + 1}, type_), {2, 2}, {3, 3},
                                        {1, 1}, {1, 1}),
            runtime::user_scratchpad_attr(), engine));
        const Activation pooled = acquire(pd.dst_desc());
        add(dnnl::pooling_forward(pd), {{DNNL_ARG_SRC, x.mem}, {DNNL_ARG_DST, pooled.mem}});
        release(x);
        x = pooled;
    }

    for (const ResNetBlockParameters& block : model.blocks()) {
        const Activation t = x;
        Activation y = convolution(block.convs[0], t, relu(), nullptr);
        for (size_t i = 1; i + 1 < block.convs.size(); ++i) {  // a bottleneck's 3x3
            const Activation next = convolution(block.convs[i], y, relu(), nullptr);
            release(y);
            y = next;
        }
        Activation identity = t;
        if (block.has_downsample) {
            identity = convolution(block.downsample, t, dnnl::post_ops(), nullptr);
            release(t);
        }
        convolution(block.convs.back(), y, residual_add_relu(), &identity);  // t = relu(y + identity)
        release(y);
        x = identity;
    }
    features_ = x;  // never released: copy_features() reads it after run()

    // Global average pooling, then the classifier on plain [N, F] rows.
    const auto gap_pd = track(dnnl::pooling_forward::primitive_desc(
        dnnl::pooling_forward::desc(dnnl::prop_kind::forward_inference, dnnl::algorithm::pooling_avg_exclude_padding,
                                    x.mem.get_desc(), any_desc({N, F, 1, 1}, type_), {1, 1}, {feature_h, feature_w}, {0, 0},
                                    {0, 0}),
        runtime::user_scratchpad_attr(), engine));
    const Activation pooled = acquire(gap_pd.dst_desc());
    add(dnnl::pooling_forward(gap_pd), {{DNNL_ARG_SRC, x.mem}, {DNNL_ARG_DST, pooled.mem}});
    // [N, F, 1, 1] f32 channels-last is [N, F] row-major already; other layouts and bf16 are
    // reordered into f32 rows for the (f32) classifier.
    const memory::desc channels_last({N, F, 1, 1}, memory::data_type::f32, memory::format_tag::nhwc);
    const Activation pooled_plain =
        gap_pd.dst_desc() == channels_last ? pooled : in_layout(pooled, plain_desc({N, F, 1, 1}));
    const Activation rows = alias(pooled_plain, plain_desc({N, F}));
    logits_ = memory(plain_desc({N, K}), engine);
    const auto& fc = model.fc();
    add(dnnl::matmul(track(runtime::linear_primitive_desc(N, fc))),
        {{DNNL_ARG_SRC, rows.mem}, {DNNL_ARG_WEIGHTS, fc.weights}, {DNNL_ARG_BIAS, fc.bias}, {DNNL_ARG_DST, logits_}});

    features_plain_ = memory(plain_desc({N, F, feature_h, feature_w}), engine);
    features_out_ = dnnl::reorder(track(dnnl::reorder::primitive_desc(engine, features_.mem.get_desc(), engine,
                                                                      features_plain_.get_desc(),
                                                                      runtime::user_scratchpad_attr())));

    for (size_t bytes : slot_bytes_)
        slots_.emplace_back(memory::desc({static_cast<int64_t>(bytes)}, memory::data_type::u8, memory::format_tag::a), engine);
    for (auto& [view, slot] : slot_views_) view.set_data_handle(slots_[slot].get_data_handle());
    scratchpad_ = memory(memory::desc({static_cast<int64_t>(scratchpad_bytes_)}, memory::data_type::u8, memory::format_tag::a),
                         engine);
    for (auto& step : steps_) step.second.emplace(DNNL_ARG_SCRATCHPAD, scratchpad_);
}

int64_t ResNetSession::buffer_bytes() const {
    size_t bytes = scratchpad_.get_desc().get_size() + logits_.get_desc().get_size() +
                   features_plain_.get_desc().get_size();
    for (const memory& slot : slots_) bytes += slot.get_desc().get_size();
    for (const memory& weights : own_weights_) bytes += weights.get_desc().get_size();  // reordered per session
    return static_cast<int64_t>(bytes);
}

void ResNetSession::run(const float* images, float* logits) {
    input_.set_data_handle(const_cast<float*>(images));  // only ever read
    for (const auto& [primitive, args] : steps_) primitive.execute(stream_, args);
    stream_.wait();
    std::memcpy(logits, logits_.get_data_handle(), N * K * sizeof(float));
}

void ResNetSession::copy_features(float* out) {
    features_out_.execute(stream_, {{DNNL_ARG_SRC, features_.mem}, {DNNL_ARG_DST, features_plain_},
                                    {DNNL_ARG_SCRATCHPAD, scratchpad_}});
    stream_.wait();
    std::memcpy(out, features_plain_.get_data_handle(), N * F * feature_h * feature_w * sizeof(float));
}

}  // namespace

namespace {

// int8 here would need fixed activation scales (a calibration pass): oneDNN 2.6's int8
// convolutions take no run-time scales, which vitc's dynamic int8 (the ViT's) relies on.
Precision supported_resnet_precision(Precision precision) {
    if (precision == Precision::INT8)
        throw Error("precision int8 is not implemented for ResNet models (f32 and bf16 are): "
                    "it would need calibrated activation scales");
    return precision;
}

}  // namespace

ResNetModel::ResNetModel(ResNetConfig config, Preprocessing preprocessing, const ResNetWeights& weights,
                         Precision precision)
    : config_(std::move(config)), preprocessing_(std::move(preprocessing)),
      precision_(supported_resnet_precision(precision)),
      parameter_count_(weights.parameters),
      fc_(runtime::prepare_linear(weights.fc_weight, weights.fc_bias)), fc_weight_(weights.fc_weight),
      fc_bias_(weights.fc_bias) {
    stem_ = geometry_of(weights.stem);
    std::vector<const ConvBatchNormWeights*> stored = {&weights.stem};  // in walk() order
    for (const ResNetBlockWeights& b : weights.blocks) {
        ResNetBlockParameters block;
        for (const ConvBatchNormWeights& c : b.convs) {
            block.convs.push_back(geometry_of(c));
            stored.push_back(&c);
        }
        block.has_downsample = b.has_downsample;
        if (b.has_downsample) {
            block.downsample = geometry_of(b.downsample);
            stored.push_back(&b.downsample);
        }
        blocks_.push_back(std::move(block));
    }
    size_t next = 0;
    walk(stem_, blocks_, config_.stem == ResNetStem::ImageNet, config_.image_height, config_.image_width,
         [&](ConvParameters& c, int64_t h, int64_t w) { prepare(c, *stored[next++], h, w, weight_data_type(precision)); });
}

ModelSummary ResNetModel::summary() const {
    const ResNetConfig& c = config_;
    ModelSummary s;
    s.family = "resnet";
    s.weight_scheme = c.naming == ResNetNaming::HuggingFace ? "huggingface" : c.dialect == "timm" ? "timm" : "torchvision";
    s.precision = precision_name(precision_);
    s.parameters = parameter_count_;
    const auto list = [](const std::array<int, 4>& v) {
        return std::to_string(v[0]) + "," + std::to_string(v[1]) + "," + std::to_string(v[2]) + "," + std::to_string(v[3]);
    };
    s.architecture = std::string("ResNet: ") + (c.block == ResNetBlock::Basic ? "basic" : "bottleneck") + " blocks " +
                     list(c.layers) + ", widths " + list(c.widths) + ", " +
                     (c.stem == ResNetStem::ImageNet ? "ImageNet stem (7x7/2 + maxpool)" : "small stem (3x3/1)") +
                     ", input " + std::to_string(c.image_height) + "x" + std::to_string(c.image_width) + "x" +
                     std::to_string(c.num_channels) + ", " + std::to_string(c.features()) + " features";
    s.flops_per_image = 2 * static_cast<int64_t>(c.features()) * static_cast<int64_t>(c.labels.size());
    walk(stem_, blocks_, c.stem == ResNetStem::ImageNet, c.image_height, c.image_width,
         [&](const ConvParameters& conv, int64_t h, int64_t w) {
             s.flops_per_image += 2 * conv.out * conv.output_size(h) * conv.output_size(w) * conv.in * conv.kernel * conv.kernel;
         });
    return s;
}

std::unique_ptr<Session> ResNetModel::create_session(int batch, int height, int width) const {
    return std::make_unique<ResNetSession>(*this, batch, height, width);
}

void ResNetModel::check_input_size(int height, int width) const {
    walk(stem_, blocks_, config_.stem == ResNetStem::ImageNet, height, width, [](auto&, int64_t, int64_t) {});
}

std::unique_ptr<Model> load_resnet_model(const std::string& directory, const nlohmann::json& config_json,
                                         const std::string& config_file, Precision precision) {
    namespace fs = std::filesystem;
    try {  // refused before reading any weights, naming the model's config
        supported_resnet_precision(precision);
    } catch (const Error& e) {
        throw ModelError(config_file, e.what());
    }
    ResNetConfig config = parse_resnet_config(config_json, config_file);
    const SafetensorsFile weights_file = SafetensorsFile::open(weights_path(directory));
    const ResNetWeights weights = load_resnet_weights(weights_file, config);

    const std::string preprocessor_file = preprocessor_path(directory);
    std::error_code ec;
    const bool has_preprocessor = fs::exists(preprocessor_file, ec);
    Preprocessing preprocessing =
        resnet_preprocessing(config, config_json, config_file, has_preprocessor ? preprocessor_file : "");
    const std::string& size_file = has_preprocessor ? preprocessor_file : config_file;
    constexpr int kMaxSide = 8192;  // as for ViTs: a crafted config must not allocate without bound
    if (preprocessing.output_height() > kMaxSide || preprocessing.output_width() > kMaxSide)
        throw ModelError(size_file, "input size " + std::to_string(preprocessing.output_height()) + "x" +
                                        std::to_string(preprocessing.output_width()) + " exceeds " +
                                        std::to_string(kMaxSide) + " pixels per side");
    std::unique_ptr<ResNetModel> model;
    try {  // the weights are prepared for image_size: too small a size is the config's fault
        model = std::make_unique<ResNetModel>(std::move(config), std::move(preprocessing), weights, precision);
    } catch (const ModelError&) {
        throw;
    } catch (const Error& e) {
        throw ModelError(config_file, std::string("image_size: ") + e.what());
    }
    try {
        model->check_input_size(model->preprocessing().output_height(), model->preprocessing().output_width());
    } catch (const Error& e) {
        throw ModelError(size_file, e.what());
    }
    return model;
}

}  // namespace vitc
