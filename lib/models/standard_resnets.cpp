#include "models/standard_resnets.hpp"

#include <cmath>
#include <random>

#include "errors.hpp"
#include "models/standard_vits.hpp"

namespace vitc {

namespace {

// He-normal convolution weights, identity BatchNorm (as torchvision initialises them).
ConvBatchNormWeights random_conv(const ConvSpec& spec, std::mt19937& rng) {
    ConvBatchNormWeights c;
    c.name = spec.conv;
    c.stride = spec.stride;
    c.padding = spec.padding;
    const float fan_out = static_cast<float>(spec.out * spec.kernel * spec.kernel);
    c.conv_weight = random_tensor({spec.out, spec.in, spec.kernel, spec.kernel}, rng, std::sqrt(2.0f / fan_out));
    c.bn_weight = Tensor{{spec.out}, std::vector<float>(static_cast<size_t>(spec.out), 1.0f)};
    c.bn_bias = c.bn_mean = Tensor{{spec.out}, std::vector<float>(static_cast<size_t>(spec.out), 0.0f)};
    c.bn_var = c.bn_weight;
    return c;
}

}  // namespace

std::unique_ptr<ResNetModel> make_standard_resnet(const std::string& arch, Precision precision, int image_size) {
    ResNetConfig c;
    if (!standard_resnet_layout(arch, &c.block, &c.layers))  // the table in io/resnet_weights.cpp
        throw Error("unknown --arch '" + arch + "' (resnet18, resnet26, resnet34, resnet50, resnet101, resnet152)");
    if (image_size < 32 || image_size > 1024) throw Error("--image-size for a ResNet must be in [32, 1024]");
    c.widths = {64, 128, 256, 512};
    c.stem = ResNetStem::ImageNet;
    c.num_channels = 3;
    c.image_height = c.image_width = image_size;
    for (int k = 0; k < 1000; ++k) c.labels.push_back("class_" + std::to_string(k));

    std::mt19937 rng(0);
    const ResNetSpec spec = resnet_spec(c);
    ResNetWeights w;
    w.stem = random_conv(spec.stem, rng);
    for (const ResNetBlockSpec& b : spec.blocks) {
        ResNetBlockWeights block;
        for (const ConvSpec& conv : b.convs) block.convs.push_back(random_conv(conv, rng));
        block.has_downsample = b.has_downsample;
        if (b.has_downsample) block.downsample = random_conv(b.downsample, rng);
        w.blocks.push_back(std::move(block));
    }
    w.fc_weight = random_tensor({1000, c.features()}, rng, 0.01f);
    w.fc_bias = random_tensor({1000}, rng, 0.01f);
    w.parameters = count_parameters(w);
    Preprocessing p = default_resnet_preprocessing(c);
    return std::make_unique<ResNetModel>(std::move(c), std::move(p), w, precision);
}

}  // namespace vitc
