#pragma once
// The ResNet (the CNN baseline) for training, llm.c style: parameters and BatchNorm running
// statistics as named views into the trainer's buffers (ResNetViews), the activations backward
// needs in one struct (ResNetActivations), and a session of oneDNN primitives built once per
// batch size. The network is models/resnet.hpp's (torchvision's ResNet v1.5, any block kind,
// depths, widths, small or ImageNet stem), with BatchNorm in training mode:
//
//   t = stem(x)          imagenet: maxpool(relu(bn(conv7x7/2(x))))   small: relu(bn(conv3x3(x)))
//   block:  basic       y = bn2(conv2(relu(bn1(conv1(t)))))
//           bottleneck  y = bn3(conv3(relu(bn2(conv2(relu(bn1(conv1(t))))))))
//           t = relu(y + identity)    identity = bn(conv1x1/s(t)) when the shape changes, else t
//   logits = fc(mean over the pixels of t)
//
// N images, C channels, H x W pixels, F features (widths[3] * expansion), K classes. Activations
// are channels-last [N, h, w, c] (runtime/conv_train.hpp says why); every BatchNorm followed by a
// ReLU has it fused in (runtime/batch_norm_train.hpp).
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "io/resnet_weights.hpp"
#include "runtime/batch_norm_train.hpp"
#include "runtime/conv_train.hpp"
#include "runtime/linear_train.hpp"
#include "runtime/max_pool_train.hpp"
#include "train/parameters.hpp"
#include "train/train_model.hpp"

namespace vitc::train {

// The architecture in vitc's ResNet config fields (block, layers, widths, stem, num_channels,
// image size, labels), torchvision naming.
struct ResNetArchitecture {
    ResNetConfig config;
    int classes() const { return static_cast<int>(config.labels.size()); }
};

// Throws Error naming the field when a size is missing or the images are too small for the network.
void check_architecture(const ResNetArchitecture& arch);

// An architecture from a config.json in vitc's ResNet fields ("model_type": "resnet", "block",
// "layers", "widths", "stem", "num_channels", "image_size", optional id2label).
ResNetArchitecture read_resnet_architecture(const std::string& config_file);

// config.json's contents in those fields (as models/fashion-cnn/config.json), with id2label and label2id.
nlohmann::json resnet_config_json(const ResNetArchitecture& arch);

// The trained tensors in torchvision's names and shapes (what vitc's ResNet loader reads back):
//   conv1.weight [w1, C, k, k], bn1.{weight, bias} [w1],
//   layerL.B.convI.weight [O, I, k, k], layerL.B.bnI.{weight, bias} [O],
//   layerL.B.downsample.0.weight [O, I, 1, 1], layerL.B.downsample.1.{weight, bias} [O],
//   fc.weight [K, F], fc.bias [K].
// Weight decay on the convolution and fc weights only.
ParameterLayout resnet_parameter_layout(const ResNetArchitecture& arch);
// Every BatchNorm's running_mean and running_var [O], under the same names.
ParameterLayout resnet_state_layout(const ResNetArchitecture& arch);

// A convolution and the BatchNorm after it: views into a parameter (or gradient) buffer and,
// for parameters, into the state buffer.
struct ConvBatchNorm {
    float* weight = nullptr;                                // [O, I, k, k]
    float *gamma = nullptr, *beta = nullptr;                // [O]
    float *running_mean = nullptr, *running_var = nullptr;  // [O], null in gradient views
};

struct ResNetBlockViews {
    std::vector<ConvBatchNorm> convs;  // conv1, conv2 (+ conv3)
    bool has_downsample = false;
    ConvBatchNorm downsample;
};

struct ResNetViews {
    ConvBatchNorm stem;
    std::vector<ResNetBlockViews> blocks;  // all stages, in order
    float *fc_w = nullptr, *fc_b = nullptr;  // [K, F], [K]
};
// state may be null (gradient views).
ResNetViews resnet_views(const ResNetArchitecture& arch, const ParameterLayout& parameters,
                         const ParameterLayout& state, float* parameter_buffer, float* state_buffer);

// torchvision's initialisation: convolutions kaiming_normal (fan_out, ReLU gain: std sqrt(2 / (O k k))),
// BatchNorm weight 1 and bias 0, fc as nn.Linear's default (weight and bias U(-1/sqrt(F), 1/sqrt(F)));
// running means 0 and variances 1.
void init_resnet(const ResNetArchitecture& arch, const ParameterLayout& parameters, const ParameterLayout& state,
                 float* parameter_buffer, float* state_buffer, uint64_t seed);

struct ConvBatchNormActivations {
    std::vector<float> conv;            // [N, h, w, O] the convolution's output (BatchNorm's input)
    std::vector<float> out;             // [N, h, w, O] BatchNorm's output (ReLU'd where fused); for a
                                        // block's last convolution, the block's output relu(y + identity)
    std::vector<float> mean, var;       // [O] the batch's statistics (var biased)
    std::vector<uint8_t> relu_mask;     // BatchNorm's workspace where a ReLU is fused
};

struct ResNetBlockActivations {
    std::vector<ConvBatchNormActivations> convs;
    ConvBatchNormActivations downsample;  // its `out` is the projected identity
    const std::vector<float>& out() const { return convs.back().out; }
};

struct ResNetActivations {
    std::vector<float> input;                  // [N, H, W, C] the images, channels-last
    ConvBatchNormActivations stem;
    std::vector<float> pooled;                 // [N, h, w, w1] after the stem's max pool (ImageNet stem)
    std::vector<uint8_t> pool_workspace;
    std::vector<ResNetBlockActivations> blocks;
    std::vector<float> features;               // [N, F] the last block's output averaged over its pixels
    std::vector<float> logits;                 // [N, K]
};

// Primitives and activations for batches of exactly `batch` images.
class ResNetTrainSession : public TrainSession {
public:
    // precision: F32, or BF16 (every convolution and the fc take bf16 operands; BatchNorm, the
    // residuals, the activations kept for backward and every gradient stay f32).
    ResNetTrainSession(const ResNetArchitecture& arch, int batch, Precision precision = Precision::F32);

    int batch() const override { return static_cast<int>(N); }
    // images [N, C, H, W] (normalised) -> logits [N, K]. Train: batch statistics, running ones updated.
    const float* forward(const ResNetViews& p, const float* images, Mode mode);
    // dlogits [N, K] -> every gradient in g (written, not accumulated), for the last Train forward().
    void backward(const ResNetViews& p, const ResNetViews& g, const float* dlogits);

    // TrainSession: the same on buffers laid out by resnet_parameter_layout / resnet_state_layout.
    const float* forward(const float* parameters, float* state, const float* images, Mode mode) override;
    void backward(const float* parameters, float* gradients, const float* dlogits) override;

    const ResNetActivations& activations() const { return acts_; }
    std::vector<std::string> implementations() const override;
    // The pooled features [N, F] of an Eval forward (--freeze-backbone).
    const float* features(const float* parameters, float* state, const float* images) override {
        forward(parameters, state, images, Mode::Eval);
        return acts_.features.data();
    }

private:
    struct ConvBatchNormLayer {
        runtime::ConvTrain conv;
        runtime::BatchNormTrain norm;
    };
    struct BlockLayers {
        std::vector<ConvBatchNormLayer> convs;
        bool has_downsample = false;
        ConvBatchNormLayer downsample;
    };
    ConvBatchNormLayer layer(const ConvSpec& spec, int64_t height, int64_t width, bool relu,
                             ConvBatchNormActivations& acts);
    void conv_bn_forward(ConvBatchNormLayer& layer, const ConvBatchNorm& p, const float* x,
                         ConvBatchNormActivations& a, Mode mode);
    void conv_bn_backward(ConvBatchNormLayer& layer, const ConvBatchNorm& p, const ConvBatchNorm& g, const float* x,
                          const ConvBatchNormActivations& a, const float* dout, float* dx);
    ResNetViews views(const float* parameters, float* state, bool with_state) const;
    const std::vector<float>& block_input(size_t i) const;  // i == blocks: the last block's output

    ResNetArchitecture arch_;
    Precision precision_;
    ParameterLayout parameter_layout_, state_layout_;
    int64_t N, C, H, W, F, K, feature_pixels = 0;
    dnnl::stream stream_;
    ConvBatchNormLayer stem_;
    runtime::MaxPoolTrain pool_;
    std::vector<BlockLayers> blocks_;
    runtime::LinearTrain fc_;
    std::vector<runtime::bfloat16> fc_w_bf16_, features_bf16_;  // bf16 only: [K, F], [N, F]
    ResNetActivations acts_;
    // Gradient scratch, each as large as the largest activation (backward runs one layer at a time):
    // the gradient of the current block's output and of its input, two between the block's
    // convolutions, and one for a convolution's output (between BatchNorm and convolution backward).
    std::vector<float> dblock_out_, dblock_in_, dinner_a_, dinner_b_, dconv_, dfeatures_;
};

// train::TrainModel for a ResNet.
class ResNetTrainModel : public TrainModel {
public:
    explicit ResNetTrainModel(ResNetArchitecture arch);
    const ResNetArchitecture& architecture() const { return arch_; }
    const ParameterLayout& parameters() const override { return parameters_; }
    const ParameterLayout& state() const override { return state_; }
    int classes() const override { return arch_.classes(); }
    void initialise(float* parameters, float* state, uint64_t seed) const override;
    std::unique_ptr<TrainSession> session(int batch, const SessionOptions& options) const override;
    nlohmann::json config() const override { return resnet_config_json(arch_); }
    // config.json, model.safetensors (unfolded: every BatchNorm's weight, bias, running_mean and
    // running_var, which the loader folds into the convolutions) and preprocessor_config.json.
    void write_model_directory(const std::string& directory, const float* parameters, const float* state,
                               const std::vector<float>& mean, const std::vector<float>& std) const override;
    Head head() const override { return {"fc.weight", "fc.bias"}; }

private:
    ResNetArchitecture arch_;
    ParameterLayout parameters_, state_;
};

}  // namespace vitc::train
