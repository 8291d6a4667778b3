#pragma once
// ResNet (He et al., 2016) as torchvision builds it (v1.5), generalised to any block kind,
// depths, widths and a small-image stem:
//
//   t = stem(x)                      imagenet: maxpool(relu(bn(conv7x7/2(x))))  small: relu(bn(conv3x3(x)))
//   for each block of layer1..layer4 (stride 2 on the first block of layers 2-4):
//     basic:      y = bn2(conv2(relu(bn1(conv1(t)))))              stride on conv1
//     bottleneck: y = bn3(conv3(relu(bn2(conv2(relu(bn1(conv1(t))))))))  stride on conv2 (3x3)
//     t = relu(y + identity)         identity = bn(conv1x1/stride(t)) when the shape changes, else t
//   logits = fc(mean over h, w of t)
//
// Every BatchNorm is folded into its convolution at load (models/fold_batch_norm.hpp).
// ResNetModel holds the folded weights, reordered once into the layout oneDNN's convolution
// picks; a session holds the primitives and activation buffers for one batch and input size
// (see resnet.cpp).
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

#include "io/resnet_weights.hpp"
#include "models/model.hpp"
#include "runtime/linear.hpp"

namespace vitc {

// A convolution with its BatchNorm folded in, ready for oneDNN.
struct ConvParameters {
    std::string name;  // e.g. "layer2.0.conv1"
    int64_t in = 0, out = 0, kernel = 0, stride = 1, padding = 0;
    dnnl::memory weights;  // [out, in, k, k] in the layout a convolution at the model's input size chose
    dnnl::memory bias;     // [out]

    // Output side length for an input side length (no ceil mode, as PyTorch).
    int64_t output_size(int64_t input) const { return (input + 2 * padding - kernel) / stride + 1; }
};

struct ResNetBlockParameters {
    std::vector<ConvParameters> convs;  // conv1, conv2 (+ conv3); the last one takes the residual sum
    bool has_downsample = false;
    ConvParameters downsample;
};

class ResNetModel : public Model {
public:
    // precision: f32 or bf16 for the convolutions (the classifier stays f32).
    ResNetModel(ResNetConfig config, Preprocessing preprocessing, const ResNetWeights& weights,
                Precision precision = Precision::F32);

    const ResNetConfig& config() const { return config_; }
    Precision precision() const { return precision_; }
    const std::vector<std::string>& labels() const override { return config_.labels; }
    void set_labels(std::vector<std::string> labels) override { config_.labels = std::move(labels); }
    const Preprocessing& preprocessing() const override { return preprocessing_; }
    int num_channels() const override { return config_.num_channels; }
    ModelSummary summary() const override;
    std::unique_ptr<Session> create_session(int batch, int height, int width) const override;

    // Throws Error when a height x width input leaves some feature map empty.
    void check_input_size(int height, int width) const;

    const ConvParameters& stem() const { return stem_; }
    const std::vector<ResNetBlockParameters>& blocks() const { return blocks_; }
    const runtime::LinearWeights& fc() const { return fc_; }
    const Tensor& fc_weight() const { return fc_weight_; }  // [K, F] as stored, for class activation maps
    const Tensor& fc_bias() const { return fc_bias_; }

private:
    ResNetConfig config_;
    Preprocessing preprocessing_;
    Precision precision_;
    int64_t parameter_count_ = 0;
    ConvParameters stem_;
    std::vector<ResNetBlockParameters> blocks_;
    runtime::LinearWeights fc_;
    Tensor fc_weight_, fc_bias_;
};

// Loads a ResNet model directory whose config.json (already read) says "model_type": "resnet".
// f32 or bf16; int8 is refused with a ModelError rather than silently ignored.
std::unique_ptr<Model> load_resnet_model(const std::string& directory, const nlohmann::json& config,
                                         const std::string& config_file, Precision precision = Precision::F32);

}  // namespace vitc
