#pragma once
// A ResNet model directory ("model_type": "resnet"): torchvision's ResNet with configurable block
// kind, depths, widths and stem, and its weights under torchvision's state_dict names:
//
//   conv1.weight  bn1.{weight,bias,running_mean,running_var}
//   layerL.B.conv1.weight  layerL.B.bn1.*  layerL.B.conv2.weight  layerL.B.bn2.*
//   layerL.B.conv3.weight  layerL.B.bn3.*                      (bottleneck blocks only)
//   layerL.B.downsample.0.weight  layerL.B.downsample.1.*      (block 0, when the shape changes)
//   fc.weight [K, F]  fc.bias [K]                               L = 1..4, B = 0..layers[L-1]-1
//
// Every shape is checked against the config; a tensor the config does not account for is an
// error (BatchNorm's num_batches_tracked excepted), so a wrong block kind or depth cannot load.
//
// Three config.json dialects are read (see parse_resnet_config): vitc's own fields; a timm hub
// config ("architecture": "resnet50", sizes inferred from the tensor shapes; timm's ResNet names
// are torchvision's); and a Hugging Face ResNetConfig ("model_type": "resnet", "depths",
// "hidden_sizes", "layer_type") whose weights carry transformers' names. kNamings in
// resnet_weights.cpp is the one table from torchvision's names to Hugging Face's.
#include <array>
#include <map>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

#include "io/model_config.hpp"
#include "io/safetensors.hpp"
#include "tensor.hpp"

namespace vitc {

enum class ResNetBlock { Basic, Bottleneck };
// Tensor names: torchvision's (also timm's and vitc's) or transformers' ResNetForImageClassification.
enum class ResNetNaming { Torchvision, HuggingFace };
enum class ResNetStem {
    ImageNet,  // conv 7x7 stride 2 pad 3, BN, ReLU, maxpool 3x3 stride 2 pad 1
    Small,     // conv 3x3 stride 1 pad 1, BN, ReLU (CIFAR-style; for small images)
};

struct ResNetConfig {
    ResNetBlock block = ResNetBlock::Basic;
    std::array<int, 4> layers{};  // blocks per stage
    std::array<int, 4> widths{};  // planes per stage; a stage outputs widths[i] * expansion()
    ResNetStem stem = ResNetStem::ImageNet;
    int num_channels = 0;
    int image_height = 0;  // the input size preprocessing resizes to; the network takes any size
    int image_width = 0;
    std::vector<std::string> labels;
    ResNetNaming naming = ResNetNaming::Torchvision;
    std::string architecture;      // timm's "architecture" or Hugging Face's architectures[0]
    std::string dialect = "vitc";  // the config.json dialect: "vitc", "timm" or "huggingface"
    bool infer_shape = false;      // timm: block, layers, widths, stem come from the tensor shapes

    int expansion() const { return block == ResNetBlock::Bottleneck ? 4 : 1; }
    int features() const { return widths[3] * expansion(); }  // channels of the last feature map
};

// A bias-free convolution and the BatchNorm after it, as stored.
struct ConvBatchNormWeights {
    std::string name;        // the convolution's name, e.g. "layer2.0.conv1", for errors and summaries
    int stride = 1, padding = 0;
    Tensor conv_weight;      // [O, I, k, k]
    Tensor bn_weight, bn_bias, bn_mean, bn_var;  // [O]
};

struct ResNetBlockWeights {
    std::vector<ConvBatchNormWeights> convs;  // conv1, conv2 (+ conv3 for bottleneck)
    bool has_downsample = false;
    ConvBatchNormWeights downsample;          // 1x1 conv with the block's stride, and its BN
};

struct ResNetWeights {
    ConvBatchNormWeights stem;
    std::vector<ResNetBlockWeights> blocks;  // all stages, in order
    Tensor fc_weight, fc_bias;               // [K, F], [K]
    int64_t parameters = 0;                  // trainable values (BN running statistics excluded)
};

// The network a config describes, as torchvision builds it: every convolution (with its BatchNorm's
// name) and its geometry, in execution order. The loader reads tensors by these names and shapes;
// benchmarks fill them with random values.
struct ConvSpec {
    std::string conv, bn;  // e.g. "layer2.0.conv1", "layer2.0.bn1"
    int64_t out = 0, in = 0, kernel = 0;
    int stride = 1, padding = 0;
};
struct ResNetBlockSpec {
    std::string prefix;  // e.g. "layer2.0."
    std::vector<ConvSpec> convs;  // conv1, conv2 (+ conv3)
    bool has_downsample = false;  // torchvision projects the identity exactly when its shape changes
    ConvSpec downsample;
};
struct ResNetSpec {
    ConvSpec stem;
    std::vector<ResNetBlockSpec> blocks;  // all stages, in order
};
ResNetSpec resnet_spec(const ResNetConfig& config);  // names in config.naming

// The names of the stem convolution's weight and the classifier's, in a naming.
std::string resnet_stem_weight_name(ResNetNaming naming);
std::string resnet_fc_name(ResNetNaming naming);  // "fc" or "classifier.1"; add ".weight"/".bias"

// Block kind, depths, widths, stem and channels from tensor shapes (name -> shape) under
// torchvision's names; `file` names the source in errors. Labels and image size are left alone.
void infer_resnet_shape(const std::map<std::string, std::vector<int64_t>>& shapes, ResNetConfig& config,
                        const std::string& file);

// torchvision's and timm's standard ResNets by name ("resnet18" ... "resnet152"): false when unknown.
bool standard_resnet_layout(const std::string& name, ResNetBlock* block, std::array<int, 4>* layers);

// True when config.json describes a ResNet in any dialect (model_type "resnet", or a timm
// "architecture" naming a ResNet).
bool is_resnet_config(const nlohmann::json& config);

// Trainable values as PyTorch counts them (BatchNorm running statistics excluded).
int64_t count_parameters(const ResNetWeights& weights);

// Reads config.json of a ResNet directory in any dialect; `file` names it in errors.
ResNetConfig parse_resnet_config(const nlohmann::json& config, const std::string& file);

// Reads and checks every tensor; fills in num_channels when the config leaves it out, and the
// whole shape when config.infer_shape is set (checked against a standard architecture's name).
ResNetWeights load_resnet_weights(const SafetensorsFile& file, ResNetConfig& config);

// The fields preprocessing needs, in the ViTConfig that parse_preprocessor_config reads them from.
ViTConfig preprocessing_fields(const ResNetConfig& config);

// Without preprocessor_config.json: resize to image_size, rescale to [0, 1], and normalise with
// torchvision's ImageNet statistics (mean 0.485, 0.456, 0.406; std 0.229, 0.224, 0.225), which
// torchvision's ResNet checkpoints expect. A gray model gets their channel averages (0.449, 0.226).
Preprocessing default_resnet_preprocessing(const ResNetConfig& config);

// A ResNet directory's preprocessing: preprocessor_config.json when `preprocessor_file` is not
// empty (with the crop_pct of Hugging Face's ConvNext/ResNet image processor: resize the shorter
// side to size / crop_pct, centre-crop size), else a timm config's pretrained_cfg, else the
// default above. A config that gave no image_size takes the preprocessing's output size.
Preprocessing resnet_preprocessing(ResNetConfig& config, const nlohmann::json& config_json,
                                   const std::string& config_file, const std::string& preprocessor_file);

}  // namespace vitc
