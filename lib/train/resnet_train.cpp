#include "train/resnet_train.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>

#include <nlohmann/json.hpp>

#include "errors.hpp"
#include "io/model_config.hpp"
#include "runtime/threads.hpp"
#include "train/model_export.hpp"

namespace vitc::train {

namespace {

// The ResNet's plain loops (oneDNN has no backward for binary ops), channels-last. Each is one
// pass over an activation (up to 1.6M values at batch 128), memory-bound: split over oneDNN's
// thread team, as a single thread would leave the other cores idle between primitives.

// out = relu(out + identity): out holds y on entry            [count]
void residual_add_relu(float* out, const float* identity, int64_t count) {
    runtime::parallel_ranges(count, [=](int, int64_t begin, int64_t end) {
#pragma omp simd
        for (int64_t i = begin; i < end; ++i) out[i] = std::max(out[i] + identity[i], 0.0f);
    });
}

// d(y + identity) = dout where out > 0, else 0, in place      [count]
void relu_backward_from_output(float* dout, const float* out, int64_t count) {
    runtime::parallel_ranges(count, [=](int, int64_t begin, int64_t end) {
#pragma omp simd
        for (int64_t i = begin; i < end; ++i) dout[i] = out[i] > 0.0f ? dout[i] : 0.0f;
    });
}

void add_into(float* dst, const float* src, int64_t count) {  // dst += src
    runtime::parallel_ranges(count, [=](int, int64_t begin, int64_t end) {
#pragma omp simd
        for (int64_t i = begin; i < end; ++i) dst[i] += src[i];
    });
}

// features [N, F] = mean over the P pixels of x [N, P, F]
void global_average_pool(const float* x, int64_t N, int64_t P, int64_t F, float* features) {
    for (int64_t n = 0; n < N; ++n) {
        float* f = features + n * F;
        std::fill(f, f + F, 0.0f);
        for (int64_t p = 0; p < P; ++p) {
            const float* pixel = x + (n * P + p) * F;
#pragma omp simd
            for (int64_t c = 0; c < F; ++c) f[c] += pixel[c];
        }
        for (int64_t c = 0; c < F; ++c) f[c] /= static_cast<float>(P);
    }
}

// dx [N, P, F] = dfeatures [N, F] / P at every pixel
void global_average_pool_backward(const float* dfeatures, int64_t N, int64_t P, int64_t F, float* dx) {
    for (int64_t n = 0; n < N; ++n)
        for (int64_t p = 0; p < P; ++p) {
            float* d = dx + (n * P + p) * F;
            for (int64_t c = 0; c < F; ++c) d[c] = dfeatures[n * F + c] / static_cast<float>(P);
        }
}

// images [N, C, H, W] -> x [N, H, W, C]
void to_channels_last(const float* images, int64_t N, int64_t C, int64_t H, int64_t W, float* x) {
    for (int64_t n = 0; n < N; ++n)
        for (int64_t c = 0; c < C; ++c)
            for (int64_t p = 0; p < H * W; ++p) x[(n * H * W + p) * C + c] = images[(n * C + c) * H * W + p];
}

ResNetSpec spec_of(const ResNetArchitecture& arch) {
    ResNetConfig c = arch.config;
    c.naming = ResNetNaming::Torchvision;
    return resnet_spec(c);
}

bool imagenet_stem(const ResNetArchitecture& arch) { return arch.config.stem == ResNetStem::ImageNet; }

int64_t conv_out(int64_t size, const ConvSpec& c) { return (size + 2 * c.padding - c.kernel) / c.stride + 1; }

// Calls visit(spec, height, width) for every convolution in execution order with its input size.
template <class Visit>
void walk(const ResNetArchitecture& arch, Visit visit) {
    const ResNetSpec spec = spec_of(arch);
    int64_t h = arch.config.image_height, w = arch.config.image_width;
    visit(spec.stem, h, w);
    h = conv_out(h, spec.stem), w = conv_out(w, spec.stem);
    if (imagenet_stem(arch)) h = (h - 1) / 2 + 1, w = (w - 1) / 2 + 1;  // 3x3, stride 2, padding 1
    for (const ResNetBlockSpec& b : spec.blocks) {
        int64_t bh = h, bw = w;
        for (const ConvSpec& c : b.convs) {
            visit(c, bh, bw);
            bh = conv_out(bh, c), bw = conv_out(bw, c);
        }
        if (b.has_downsample) visit(b.downsample, h, w);
        h = bh, w = bw;
    }
}

}  // namespace

void check_architecture(const ResNetArchitecture& arch) {
    const ResNetConfig& c = arch.config;
    for (int i = 0; i < 4; ++i) {
        if (c.layers[i] < 1) throw Error("architecture: 'layers' must hold 4 positive block counts");
        if (c.widths[i] < 1) throw Error("architecture: 'widths' must hold 4 positive widths");
    }
    if (c.num_channels < 1) throw Error("architecture: 'num_channels' must be set and positive");
    if (c.image_height < 1 || c.image_width < 1) throw Error("architecture: 'image_size' must be set and positive");
    if (arch.classes() < 2) throw Error("architecture: at least 2 classes are needed");
    walk(arch, [&](const ConvSpec& s, int64_t h, int64_t w) {
        if (conv_out(h, s) < 1 || conv_out(w, s) < 1)
            throw Error("architecture: " + std::to_string(c.image_height) + "x" + std::to_string(c.image_width) +
                        " images are too small for this ResNet: " + s.conv + " would get a " + std::to_string(h) +
                        "x" + std::to_string(w) + " map");
    });
}

ResNetArchitecture read_resnet_architecture(const std::string& config_file) {
    const nlohmann::json j = read_json_file(config_file);
    if (!j.contains("block") && !j.contains("layers"))
        throw ModelError(config_file, "training a ResNet needs vitc's fields (\"block\", \"layers\", \"widths\", "
                                      "\"stem\", \"num_channels\", \"image_size\"), as models/fashion-cnn/config.json");
    ResNetArchitecture arch;
    arch.config = parse_resnet_config(j, config_file);
    try {
        ResNetArchitecture probe = arch;  // the labels (and channels) may come from the training data instead
        if (probe.config.labels.empty()) probe.config.labels = {"a", "b"};
        if (probe.config.num_channels < 1) probe.config.num_channels = 1;
        check_architecture(probe);
    } catch (const Error& e) {
        throw ModelError(config_file, e.what());
    }
    return arch;
}

nlohmann::json resnet_config_json(const ResNetArchitecture& arch) {
    const ResNetConfig& c = arch.config;
    return {{"model_type", "resnet"},
            {"block", c.block == ResNetBlock::Basic ? "basic" : "bottleneck"},
            {"layers", c.layers},
            {"widths", c.widths},
            {"stem", c.stem == ResNetStem::Small ? "small" : "imagenet"},
            {"num_channels", c.num_channels},
            {"image_size", {c.image_height, c.image_width}}};
}

ParameterLayout resnet_parameter_layout(const ResNetArchitecture& arch) {
    const ResNetSpec spec = spec_of(arch);
    ParameterLayout L;
    const auto conv_bn = [&](const ConvSpec& c) {
        L.add(c.conv + ".weight", {c.out, c.in, c.kernel, c.kernel}, true);
        L.add(c.bn + ".weight", {c.out}, false);
        L.add(c.bn + ".bias", {c.out}, false);
    };
    conv_bn(spec.stem);
    for (const ResNetBlockSpec& b : spec.blocks) {
        for (const ConvSpec& c : b.convs) conv_bn(c);
        if (b.has_downsample) conv_bn(b.downsample);
    }
    L.add("fc.weight", {arch.classes(), arch.config.features()}, true);
    L.add("fc.bias", {arch.classes()}, false);
    return L;
}

ParameterLayout resnet_state_layout(const ResNetArchitecture& arch) {
    const ResNetSpec spec = spec_of(arch);
    ParameterLayout L;
    const auto running = [&](const ConvSpec& c) {
        L.add(c.bn + ".running_mean", {c.out}, false);
        L.add(c.bn + ".running_var", {c.out}, false);
    };
    running(spec.stem);
    for (const ResNetBlockSpec& b : spec.blocks) {
        for (const ConvSpec& c : b.convs) running(c);
        if (b.has_downsample) running(b.downsample);
    }
    return L;
}

ResNetViews resnet_views(const ResNetArchitecture& arch, const ParameterLayout& parameters,
                         const ParameterLayout& state, float* parameter_buffer, float* state_buffer) {
    const auto view = [&](const ConvSpec& c) {
        ConvBatchNorm v;
        v.weight = parameter_buffer + parameters.find(c.conv + ".weight").offset;
        v.gamma = parameter_buffer + parameters.find(c.bn + ".weight").offset;
        v.beta = parameter_buffer + parameters.find(c.bn + ".bias").offset;
        if (state_buffer) {
            v.running_mean = state_buffer + state.find(c.bn + ".running_mean").offset;
            v.running_var = state_buffer + state.find(c.bn + ".running_var").offset;
        }
        return v;
    };
    const ResNetSpec spec = spec_of(arch);
    ResNetViews p;
    p.stem = view(spec.stem);
    for (const ResNetBlockSpec& b : spec.blocks) {
        ResNetBlockViews block;
        for (const ConvSpec& c : b.convs) block.convs.push_back(view(c));
        block.has_downsample = b.has_downsample;
        if (b.has_downsample) block.downsample = view(b.downsample);
        p.blocks.push_back(block);
    }
    p.fc_w = parameter_buffer + parameters.find("fc.weight").offset;
    p.fc_b = parameter_buffer + parameters.find("fc.bias").offset;
    return p;
}

void init_resnet(const ResNetArchitecture& arch, const ParameterLayout& parameters, const ParameterLayout& state,
                 float* parameter_buffer, float* state_buffer, uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::fill(parameter_buffer, parameter_buffer + parameters.size(), 0.0f);
    const float fc_bound = 1.0f / std::sqrt(static_cast<float>(arch.config.features()));
    for (const ParameterTensor& t : parameters.tensors()) {
        float* v = parameter_buffer + t.offset;
        const bool conv = t.shape.size() == 4, fc = t.name.rfind("fc.", 0) == 0;
        if (conv) {  // kaiming_normal_(mode="fan_out", nonlinearity="relu")
            const float fan_out = static_cast<float>(t.shape[0] * t.shape[2] * t.shape[3]);
            std::normal_distribution<float> normal(0.0f, std::sqrt(2.0f / fan_out));
            for (size_t i = 0; i < t.numel; ++i) v[i] = normal(rng);
        } else if (fc) {
            std::uniform_real_distribution<float> uniform(-fc_bound, fc_bound);
            for (size_t i = 0; i < t.numel; ++i) v[i] = uniform(rng);
        } else if (t.name.size() > 7 && t.name.compare(t.name.size() - 7, 7, ".weight") == 0) {
            std::fill(v, v + t.numel, 1.0f);  // BatchNorm weight; its bias stays 0
        }
    }
    std::fill(state_buffer, state_buffer + state.size(), 0.0f);
    for (const ParameterTensor& t : state.tensors())
        if (t.name.find("running_var") != std::string::npos)
            std::fill(state_buffer + t.offset, state_buffer + t.offset + t.numel, 1.0f);
}

// ---------------------------------------------------------------------------------------------
// The session

ResNetTrainSession::ConvBatchNormLayer ResNetTrainSession::layer(const ConvSpec& s, int64_t height, int64_t width,
                                                                 bool relu, ConvBatchNormActivations& a) {
    runtime::ConvShape shape;
    shape.batch = N, shape.in = s.in, shape.out = s.out, shape.height = height, shape.width = width;
    shape.kernel = s.kernel, shape.stride = s.stride, shape.padding = s.padding;
    ConvBatchNormLayer l{runtime::ConvTrain(shape, precision_),
                         runtime::BatchNormTrain(N, s.out, shape.out_height(), shape.out_width(), relu)};
    const int64_t count = N * s.out * shape.out_height() * shape.out_width();
    a.conv.resize(count);
    a.out.resize(count);
    a.mean.resize(s.out);
    a.var.resize(s.out);
    a.relu_mask.resize(l.norm.workspace_bytes());
    return l;
}

ResNetTrainSession::ResNetTrainSession(const ResNetArchitecture& arch, int batch, Precision precision)
    : arch_(arch), precision_(precision), stream_(runtime::cpu_engine()) {
    if (precision != Precision::F32 && precision != Precision::BF16)
        throw Error(std::string("ResNet training runs in f32 or bf16, not ") + precision_name(precision));
    check_architecture(arch);
    if (batch < 1) throw Error("batch size must be at least 1");
    parameter_layout_ = resnet_parameter_layout(arch);
    state_layout_ = resnet_state_layout(arch);
    N = batch;
    C = arch.config.num_channels;
    H = arch.config.image_height;
    W = arch.config.image_width;
    F = arch.config.features();
    K = arch.classes();
    const ResNetSpec spec = spec_of(arch);
    ResNetActivations& a = acts_;
    a.input.resize(N * H * W * C);

    int64_t largest = N * H * W * C;  // the largest activation, for the gradient scratch
    int64_t h = H, w = W;
    stem_ = layer(spec.stem, h, w, /*relu=*/true, a.stem);
    h = conv_out(h, spec.stem), w = conv_out(w, spec.stem);
    largest = std::max<int64_t>(largest, a.stem.out.size());
    if (imagenet_stem(arch)) {
        pool_ = runtime::MaxPoolTrain(N, spec.stem.out, h, w, 3, 2, 1);
        h = pool_.out_height(), w = pool_.out_width();
        a.pooled.resize(N * h * w * spec.stem.out);
        a.pool_workspace.resize(pool_.workspace_bytes());
    }
    for (const ResNetBlockSpec& b : spec.blocks) {
        BlockLayers layers;
        ResNetBlockActivations block;
        block.convs.resize(b.convs.size());
        int64_t bh = h, bw = w;
        for (size_t i = 0; i < b.convs.size(); ++i) {
            // every BatchNorm but the last is followed by a ReLU; the last one's comes after the residual
            const bool relu = i + 1 < b.convs.size();
            layers.convs.push_back(layer(b.convs[i], bh, bw, relu, block.convs[i]));
            bh = conv_out(bh, b.convs[i]), bw = conv_out(bw, b.convs[i]);
            largest = std::max<int64_t>(largest, block.convs[i].out.size());
        }
        layers.has_downsample = b.has_downsample;
        if (b.has_downsample) layers.downsample = layer(b.downsample, h, w, /*relu=*/false, block.downsample);
        blocks_.push_back(std::move(layers));
        a.blocks.push_back(std::move(block));
        h = bh, w = bw;
    }
    feature_pixels = h * w;
    fc_ = runtime::LinearTrain(N, F, K, /*accumulate=*/false, precision);
    if (fc_.bf16()) {
        fc_w_bf16_.resize(K * F);
        features_bf16_.resize(N * F);
    }
    a.features.resize(N * F);
    a.logits.resize(N * K);
    for (auto* v : {&dblock_out_, &dblock_in_, &dinner_a_, &dinner_b_, &dconv_}) v->resize(largest);
    dfeatures_.resize(N * F);
}

ResNetViews ResNetTrainSession::views(const float* parameters, float* state, bool with_state) const {
    return resnet_views(arch_, parameter_layout_, state_layout_, const_cast<float*>(parameters),
                        with_state ? state : nullptr);
}

// a.out = BN(conv(x)) [then ReLU]: batch statistics (and the running ones updated) in Train mode,
// the running statistics in Eval mode.
void ResNetTrainSession::conv_bn_forward(ConvBatchNormLayer& l, const ConvBatchNorm& p, const float* x,
                                         ConvBatchNormActivations& a, Mode mode) {
    l.conv.forward(stream_, x, p.weight, a.conv.data());
    if (mode == Mode::Eval) {
        l.norm.forward_inference(stream_, a.conv.data(), p.gamma, p.beta, p.running_mean, p.running_var, a.out.data());
        return;
    }
    l.norm.forward_training(stream_, a.conv.data(), p.gamma, p.beta, a.out.data(), a.mean.data(), a.var.data(),
                            a.relu_mask.data());
    stream_.wait();
    l.norm.update_running(a.mean.data(), a.var.data(), p.running_mean, p.running_var);
}

// dout (of a.out) -> dx (of x; skipped when null) and the gradients g of the weight, gamma and beta.
void ResNetTrainSession::conv_bn_backward(ConvBatchNormLayer& l, const ConvBatchNorm& p, const ConvBatchNorm& g,
                                          const float* x, const ConvBatchNormActivations& a, const float* dout,
                                          float* dx) {
    l.norm.backward(stream_, dout, a.conv.data(), a.mean.data(), a.var.data(), p.gamma, p.beta, a.relu_mask.data(),
                    dconv_.data(), g.gamma, g.beta);
    l.conv.backward(stream_, dconv_.data(), x, p.weight, dx, g.weight);
}

// The input of block i: the previous block's output, or the stem's (after its max pool).
const std::vector<float>& ResNetTrainSession::block_input(size_t i) const {
    if (i > 0) return acts_.blocks[i - 1].out();
    return imagenet_stem(arch_) ? acts_.pooled : acts_.stem.out;
}

const float* ResNetTrainSession::forward(const ResNetViews& p, const float* images, Mode mode) {
    ResNetActivations& a = acts_;
    to_channels_last(images, N, C, H, W, a.input.data());
    conv_bn_forward(stem_, p.stem, a.input.data(), a.stem, mode);
    if (imagenet_stem(arch_))
        pool_.forward(stream_, a.stem.out.data(), a.pooled.data(), mode == Mode::Train ? a.pool_workspace.data() : nullptr);
    for (size_t i = 0; i < blocks_.size(); ++i) {
        BlockLayers& l = blocks_[i];
        const ResNetBlockViews& w = p.blocks[i];
        ResNetBlockActivations& b = a.blocks[i];
        const float* t = block_input(i).data();
        const float* x = t;
        for (size_t j = 0; j < l.convs.size(); ++j) {
            conv_bn_forward(l.convs[j], w.convs[j], x, b.convs[j], mode);
            x = b.convs[j].out.data();
        }
        const float* identity = t;
        if (l.has_downsample) {
            conv_bn_forward(l.downsample, w.downsample, t, b.downsample, mode);
            identity = b.downsample.out.data();
        }
        stream_.wait();
        ConvBatchNormActivations& last = b.convs.back();
        residual_add_relu(last.out.data(), identity, static_cast<int64_t>(last.out.size()));
    }
    global_average_pool(block_input(blocks_.size()).data(), N, feature_pixels, F, a.features.data());
    if (fc_.bf16()) {
        fc_.convert_weights(stream_, p.fc_w, fc_w_bf16_.data());
        fc_.forward(stream_, a.features.data(), features_bf16_.data(), fc_w_bf16_.data(), p.fc_b, a.logits.data());
    } else {
        fc_.forward(stream_, a.features.data(), p.fc_w, p.fc_b, a.logits.data());
    }
    stream_.wait();
    return a.logits.data();
}

void ResNetTrainSession::backward(const ResNetViews& p, const ResNetViews& g, const float* dlogits) {
    const ResNetActivations& a = acts_;
    if (fc_.bf16())  // the bf16 weights and features of the forward pass
        fc_.backward(stream_, dlogits, features_bf16_.data(), fc_w_bf16_.data(), dfeatures_.data(), g.fc_w, g.fc_b);
    else
        fc_.backward(stream_, dlogits, a.features.data(), p.fc_w, dfeatures_.data(), g.fc_w, g.fc_b);
    global_average_pool_backward(dfeatures_.data(), N, feature_pixels, F, dblock_out_.data());

    for (size_t i = blocks_.size(); i-- > 0;) {
        BlockLayers& l = blocks_[i];
        const ResNetBlockViews &w = p.blocks[i], &gw = g.blocks[i];
        const ResNetBlockActivations& b = a.blocks[i];
        const float* t = block_input(i).data();
        const int64_t in_count = static_cast<int64_t>(block_input(i).size());
        // dblock_out becomes d(y + identity), the gradient of y and of the identity alike
        relu_backward_from_output(dblock_out_.data(), b.out().data(), static_cast<int64_t>(b.out().size()));
        // through the convolutions, last to first, alternating between two buffers, into dblock_in
        const float* dout = dblock_out_.data();
        for (size_t j = l.convs.size(); j-- > 0;) {
            float* dx = j == 0 ? dblock_in_.data() : (dout == dinner_a_.data() ? dinner_b_.data() : dinner_a_.data());
            conv_bn_backward(l.convs[j], w.convs[j], gw.convs[j], j == 0 ? t : b.convs[j - 1].out.data(),
                             b.convs[j], dout, dx);
            dout = dx;
        }
        if (l.has_downsample) {
            conv_bn_backward(l.downsample, w.downsample, gw.downsample, t, b.downsample, dblock_out_.data(),
                             dinner_a_.data());
            stream_.wait();
            add_into(dblock_in_.data(), dinner_a_.data(), in_count);
        } else {
            stream_.wait();
            add_into(dblock_in_.data(), dblock_out_.data(), in_count);
        }
        std::swap(dblock_out_, dblock_in_);
    }
    // dblock_out holds the gradient of the first block's input: through the stem
    const float* dstem = dblock_out_.data();
    if (imagenet_stem(arch_)) {
        pool_.backward(stream_, dblock_out_.data(), a.pool_workspace.data(), dinner_a_.data());
        dstem = dinner_a_.data();
    }
    conv_bn_backward(stem_, p.stem, g.stem, a.input.data(), a.stem, dstem, nullptr);
    stream_.wait();
}

const float* ResNetTrainSession::forward(const float* parameters, float* state, const float* images, Mode mode) {
    return forward(views(parameters, state, true), images, mode);
}

void ResNetTrainSession::backward(const float* parameters, float* gradients, const float* dlogits) {
    backward(views(parameters, nullptr, false), views(gradients, nullptr, false), dlogits);
}

std::vector<std::string> ResNetTrainSession::implementations() const {
    std::vector<std::string> all;
    const auto add = [&](const std::vector<std::string>& list) { all.insert(all.end(), list.begin(), list.end()); };
    const auto add_layer = [&](const ConvBatchNormLayer& l) {
        add(l.conv.implementations());
        add(l.norm.implementations());
    };
    add_layer(stem_);
    if (imagenet_stem(arch_)) add(pool_.implementations());
    for (const BlockLayers& b : blocks_) {
        for (const ConvBatchNormLayer& l : b.convs) add_layer(l);
        if (b.has_downsample) add_layer(b.downsample);
    }
    add(fc_.implementations());
    return all;
}

// ---------------------------------------------------------------------------------------------
// The TrainModel

ResNetTrainModel::ResNetTrainModel(ResNetArchitecture arch) : arch_(std::move(arch)) {
    arch_.config.naming = ResNetNaming::Torchvision;
    check_architecture(arch_);
    parameters_ = resnet_parameter_layout(arch_);
    state_ = resnet_state_layout(arch_);
}

void ResNetTrainModel::initialise(float* parameters, float* state, uint64_t seed) const {
    init_resnet(arch_, parameters_, state_, parameters, state, seed);
}

std::unique_ptr<TrainSession> ResNetTrainModel::session(int batch, const SessionOptions& options) const {
    return std::make_unique<ResNetTrainSession>(arch_, batch, options.precision);
}

void ResNetTrainModel::write_model_directory(const std::string& directory, const float* parameters,
                                             const float* state, const std::vector<float>& mean,
                                             const std::vector<float>& std) const {
    std::vector<TensorToWrite> tensors;
    for (const ParameterTensor& t : parameters_.tensors()) tensors.push_back({t.name, t.shape, parameters + t.offset});
    for (const ParameterTensor& t : state_.tensors()) tensors.push_back({t.name, t.shape, state + t.offset});
    write_trained_model_directory(directory, tensors, config(), arch_.config.labels, arch_.config.image_height,
                                  arch_.config.image_width, mean, std);
}

}  // namespace vitc::train
