#include "explain/plain_resnet.hpp"

#include <algorithm>

#include "errors.hpp"
#include "runtime/read_back.hpp"

namespace vitc {

namespace {

PlainConv plain(const ConvParameters& c) {
    return {c.in, c.out, c.kernel, c.stride, c.padding, runtime::plain_f32_values(c.weights), runtime::plain_f32_values(c.bias)};
}

// The output columns ox whose input column ox * stride + k - padding lies in [0, in_size):
// [first, last).
std::pair<int64_t, int64_t> valid_range(int64_t out_size, int64_t in_size, const PlainConv& c, int64_t k) {
    int64_t first = 0;
    while (first < out_size && first * c.stride + k - c.padding < 0) ++first;
    int64_t last = out_size;
    while (last > first && (last - 1) * c.stride + k - c.padding >= in_size) --last;
    return {first, last};
}

// Visits every tap of a convolution from an H x W input to an OH x OW output: for each weight
// w[o, i, ky, kx] and output row oy, tap(w, in, out, x0, x1) where output element out + ox
// (ox in [x0, x1)) reads input element in + ox * stride (offsets into [C, H, W] buffers).
template <class Tap>
void for_each_tap(const PlainConv& c, int64_t H, int64_t W, int64_t OH, int64_t OW, Tap tap) {
    const int64_t K = c.kernel, S = c.stride, P = c.padding;
    for (int64_t o = 0; o < c.out; ++o)
        for (int64_t i = 0; i < c.in; ++i)
            for (int64_t ky = 0; ky < K; ++ky)
                for (int64_t kx = 0; kx < K; ++kx) {
                    const float w = c.weight[((o * c.in + i) * K + ky) * K + kx];
                    const auto [x0, x1] = valid_range(OW, W, c, kx);
                    const auto [y0, y1] = valid_range(OH, H, c, ky);
                    for (int64_t oy = y0; oy < y1; ++oy)
                        tap(w, (i * H + oy * S + ky - P) * W + kx - P, (o * OH + oy) * OW, x0, x1);
                }
}

// y = conv(x) + bias; x [in, H, W] -> y [out, OH, OW].
FeatureMap convolution(const PlainConv& c, const FeatureMap& x) {
    FeatureMap y{c.out, (x.height + 2 * c.padding - c.kernel) / c.stride + 1, (x.width + 2 * c.padding - c.kernel) / c.stride + 1, {}};
    const int64_t cells = y.height * y.width, S = c.stride;
    y.values.resize(c.out * cells);
    for (int64_t o = 0; o < c.out; ++o) std::fill(y.values.begin() + o * cells, y.values.begin() + (o + 1) * cells, c.bias[o]);
    const float* in = x.values.data();
    float* out = y.values.data();
    for_each_tap(c, x.height, x.width, y.height, y.width, [&](float w, int64_t i, int64_t o, int64_t x0, int64_t x1) {
        for (int64_t ox = x0; ox < x1; ++ox) out[o + ox] += w * in[i + ox * S];
    });
    return y;
}

// The gradient of conv's input from its output's: dx[i, iy, ix] += w[o, i, ky, kx] dy[o, oy, ox]
// (the bias has no part in it). dy [out, OH, OW] -> dx [in, height, width].
FeatureMap convolution_backward(const PlainConv& c, const FeatureMap& dy, int64_t height, int64_t width) {
    FeatureMap dx{c.in, height, width, std::vector<float>(c.in * height * width, 0.0f)};
    const int64_t S = c.stride;
    const float* grad = dy.values.data();
    float* out = dx.values.data();
    for_each_tap(c, height, width, dy.height, dy.width, [&](float w, int64_t i, int64_t o, int64_t x0, int64_t x1) {
        for (int64_t ox = x0; ox < x1; ++ox) out[i + ox * S] += w * grad[o + ox];
    });
    return dx;
}

void relu(FeatureMap& x) {
    for (float& v : x.values) v = std::max(v, 0.0f);
}

void add(FeatureMap& x, const FeatureMap& y) {
    for (size_t i = 0; i < x.values.size(); ++i) x.values[i] += y.values[i];
}

// g *= [x > 0]: the gradient through a ReLU whose output is x.
void relu_backward(FeatureMap& g, const FeatureMap& x) {
    for (size_t i = 0; i < g.values.size(); ++i)
        if (!(x.values[i] > 0)) g.values[i] = 0.0f;
}

// 3x3, stride 2, padding 1 max pooling (the ImageNet stem's).
FeatureMap max_pool(const FeatureMap& x) {
    FeatureMap y{x.channels, (x.height - 1) / 2 + 1, (x.width - 1) / 2 + 1, {}};
    y.values.assign(y.channels * y.height * y.width, 0.0f);
    for (int64_t c = 0; c < x.channels; ++c)
        for (int64_t oy = 0; oy < y.height; ++oy)
            for (int64_t ox = 0; ox < y.width; ++ox) {
                float best = -3.4e38f;
                for (int64_t iy = std::max<int64_t>(0, 2 * oy - 1); iy <= std::min(x.height - 1, 2 * oy + 1); ++iy)
                    for (int64_t ix = std::max<int64_t>(0, 2 * ox - 1); ix <= std::min(x.width - 1, 2 * ox + 1); ++ix)
                        best = std::max(best, x.values[(c * x.height + iy) * x.width + ix]);
                y.values[(c * y.height + oy) * y.width + ox] = best;
            }
    return y;
}

// One block's forward pass, keeping what its backward pass needs: every conv's output after its
// ReLU (the last one's after the residual sum and ReLU).
struct BlockTrace {
    FeatureMap input;
    std::vector<FeatureMap> outputs;
};

BlockTrace block_forward(const PlainBlock& b, FeatureMap t) {
    BlockTrace trace{std::move(t), {}};
    const FeatureMap* y = &trace.input;
    for (size_t i = 0; i + 1 < b.convs.size(); ++i) {
        FeatureMap next = convolution(b.convs[i], *y);
        relu(next);
        trace.outputs.push_back(std::move(next));
        y = &trace.outputs.back();
    }
    FeatureMap z = convolution(b.convs.back(), *y);
    add(z, b.has_downsample ? convolution(b.downsample, trace.input) : trace.input);
    relu(z);
    trace.outputs.push_back(std::move(z));
    return trace;
}

// d input from d output, through the block traced in `trace`.
FeatureMap block_backward(const PlainBlock& b, const BlockTrace& trace, FeatureMap grad) {
    relu_backward(grad, trace.outputs.back());
    const FeatureMap dz = grad;
    for (size_t i = b.convs.size(); i-- > 0;) {
        const FeatureMap& below = i ? trace.outputs[i - 1] : trace.input;
        grad = convolution_backward(b.convs[i], grad, below.height, below.width);
        if (i) relu_backward(grad, below);
    }
    add(grad, b.has_downsample ? convolution_backward(b.downsample, dz, trace.input.height, trace.input.width) : dz);
    return grad;
}

}  // namespace

PlainResNet::PlainResNet(const ResNetModel& model)
    : stem_(plain(model.stem())), maxpool_(model.config().stem == ResNetStem::ImageNet),
      fc_weight_(model.fc_weight().values), fc_bias_(model.fc_bias().values),
      classes_(static_cast<int64_t>(model.labels().size())) {
    for (const ResNetBlockParameters& b : model.blocks()) {
        PlainBlock block;
        for (const ConvParameters& c : b.convs) block.convs.push_back(plain(c));
        block.has_downsample = b.has_downsample;
        if (b.has_downsample) block.downsample = plain(b.downsample);
        blocks_.push_back(std::move(block));
    }
    stage_blocks_ = model.config().layers;
}

FeatureMap PlainResNet::run_stage(int stage, FeatureMap x) const {
    int first = 0;
    for (int s = 0; s < stage; ++s) first += stage_blocks_[s];
    for (int b = first; b < first + stage_blocks_[stage]; ++b) x = block_forward(blocks_[b], std::move(x)).outputs.back();
    return x;
}

std::vector<FeatureMap> PlainResNet::forward(const float* image, int64_t height, int64_t width) const {
    FeatureMap x{stem_.in, height, width, std::vector<float>(image, image + stem_.in * height * width)};
    x = convolution(stem_, x);
    relu(x);
    if (maxpool_) x = max_pool(x);
    std::vector<FeatureMap> stages;
    for (int s = 0; s < kStages; ++s) {
        x = run_stage(s, std::move(x));
        stages.push_back(x);
    }
    return stages;
}

std::vector<float> PlainResNet::logits_from(int stage, const FeatureMap& activation) const {
    FeatureMap x = activation;
    for (int s = stage + 1; s < kStages; ++s) x = run_stage(s, std::move(x));
    const int64_t F = x.channels, cells = x.height * x.width;
    std::vector<float> logits(fc_bias_);
    for (int64_t f = 0; f < F; ++f) {
        double mean = 0;
        for (int64_t i = 0; i < cells; ++i) mean += x.values[f * cells + i];
        mean /= static_cast<double>(cells);
        for (int64_t k = 0; k < classes_; ++k) logits[k] += static_cast<float>(fc_weight_[k * F + f] * mean);
    }
    return logits;
}

FeatureMap PlainResNet::class_gradient(int stage, const FeatureMap& activation, int k) const {
    if (stage < 0 || stage >= kStages) throw Error("ResNet stage " + std::to_string(stage) + " does not exist (0 to 3)");
    // Forward through the later stages, keeping every block's trace.
    std::vector<const PlainBlock*> later;
    std::vector<BlockTrace> traces;
    int first = 0;
    for (int s = 0; s <= stage; ++s) first += stage_blocks_[s];
    FeatureMap x = activation;
    for (size_t b = first; b < blocks_.size(); ++b) {
        traces.push_back(block_forward(blocks_[b], std::move(x)));
        later.push_back(&blocks_[b]);
        x = traces.back().outputs.back();
    }
    // The head: d logit[k] / d a_last[f, y, x] = W[k, f] / (h w).
    const int64_t F = x.channels, cells = x.height * x.width;
    FeatureMap grad{F, x.height, x.width, std::vector<float>(F * cells)};
    for (int64_t f = 0; f < F; ++f)
        std::fill(grad.values.begin() + f * cells, grad.values.begin() + (f + 1) * cells,
                  fc_weight_[k * F + f] / static_cast<float>(cells));
    for (size_t b = later.size(); b-- > 0;) grad = block_backward(*later[b], traces[b], std::move(grad));
    return grad;
}

}  // namespace vitc
