#pragma once
// A ResNet's forward pass and the backward pass of one class score, in plain loops, for Grad-CAM
// (explain/cam.hpp) on a stage before the last. The weights are the model's own (BatchNorm
// already folded in, read back from oneDNN as f32), so the logits match the model's session;
// the loops are slow next to oneDNN, but an explanation runs them once per image.
//
//   stage s output a_s = blocks of stage s (see models/resnet.hpp) applied to a_{s-1}
//   logit[k] = b[k] + sum_f W[k, f] * mean_yx a_last[f, y, x]
//   d logit[k] / d a_s: back through the stages after s, block by block:
//     block: z = conv_last(y) + identity(t); out = relu(z)
//       dz = d_out * [z > 0];  dt = conv_1^T(... [relu masks] ... conv_last^T dz) + identity^T dz
#include <array>
#include <cstdint>
#include <vector>

#include "models/resnet.hpp"

namespace vitc {

// [channels, height, width] row-major: one image.
struct FeatureMap {
    int64_t channels = 0, height = 0, width = 0;
    std::vector<float> values;
};

struct PlainConv {
    int64_t in = 0, out = 0, kernel = 0, stride = 1, padding = 0;
    std::vector<float> weight;  // [out, in, kernel, kernel]
    std::vector<float> bias;    // [out]
};

struct PlainBlock {
    std::vector<PlainConv> convs;  // relu after each but the last; the last takes the identity
    bool has_downsample = false;
    PlainConv downsample;
};

class PlainResNet {
public:
    explicit PlainResNet(const ResNetModel& model);

    static constexpr int kStages = 4;  // layer1 .. layer4

    // The output of every stage for one preprocessed image [C, H, W] of height x width.
    std::vector<FeatureMap> forward(const float* image, int64_t height, int64_t width) const;

    // The logits from stage s's output: the later stages and the head.
    std::vector<float> logits_from(int stage, const FeatureMap& activation) const;

    // d logit[k] / d activation, for stage s's output `activation` (the same shape).
    FeatureMap class_gradient(int stage, const FeatureMap& activation, int k) const;

private:
    FeatureMap run_stage(int stage, FeatureMap x) const;

    PlainConv stem_;
    bool maxpool_ = false;
    std::vector<PlainBlock> blocks_;
    std::array<int, kStages> stage_blocks_{};  // blocks per stage
    std::vector<float> fc_weight_, fc_bias_;   // [K, F], [K]
    int64_t classes_ = 0;
};

}  // namespace vitc
