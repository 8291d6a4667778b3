#include "explain/explainer.hpp"

#include <algorithm>
#include <cstring>

#include "errors.hpp"
#include "explain/cam.hpp"
#include "explain/rollout.hpp"
#include "models/resnet.hpp"
#include "models/vit.hpp"
#include "runtime/dnnl_helpers.hpp"

namespace vitc {

Explainer::Explainer(const Model& model) : model_(model), stream_(runtime::cpu_engine()) {
    const Preprocessing& p = model.preprocessing();
    session_ = model.create_session(1, p.output_height(), p.output_width());
    attention_probe_ = dynamic_cast<AttentionProbe*>(session_.get());
    feature_probe_ = dynamic_cast<FeatureMapProbe*>(session_.get());
    const auto* vit = dynamic_cast<const ViTModel*>(&model);
    if (attention_probe_ && vit) {
        const ViTConfig& c = vit->config();
        layers_ = static_cast<int>(vit->blocks().size());
        heads_ = c.num_heads;
        grid_h_ = p.output_height() / c.patch_size;
        grid_w_ = p.output_width() / c.patch_size;
        prefix_ = vit->has_class_token() ? 1 : 0;
        mean_pooling_ = c.pooling == Pooling::Mean || prefix_ == 0;
        tokens_ = grid_h_ * grid_w_ + prefix_;
        attention_probe_->observe_attention([this](int layer, const dnnl::memory& probabilities) {
            if (!to_f32_) {  // the session's buffer never changes: one reorder primitive serves all calls
                attention_f32_ = dnnl::memory(runtime::plain_desc(probabilities.get_desc().dims()), runtime::cpu_engine());
                to_f32_ = dnnl::reorder(probabilities, attention_f32_);
            }
            to_f32_.execute(stream_, const_cast<dnnl::memory&>(probabilities), attention_f32_);
            stream_.wait();
            const float* v = static_cast<const float*>(attention_f32_.get_data_handle());
            attention_[layer].assign(v, v + heads_ * tokens_ * tokens_);  // image 0 of a batch of one
        });
    } else if (!feature_probe_) {
        throw Error("this model (" + model.summary().family + ") offers neither attention nor a feature map to explain");
    }
    if (const auto* resnet = dynamic_cast<const ResNetModel*>(&model); resnet && feature_probe_)
        resnet_ = std::make_unique<PlainResNet>(*resnet);
}

ExplainedImage Explainer::explain(const float* input, int layer) {
    if (layer >= 0 && layers_ == 0)
        throw Error("--layer selects a transformer layer's attention; this model is a " + model_.summary().family);
    if (layer >= layers_ && layers_ > 0)
        throw Error("--layer " + std::to_string(layer) + " is out of range: the model has " + std::to_string(layers_) +
                    " layers (0 to " + std::to_string(layers_ - 1) + ")");
    attention_.assign(layers_, {});
    std::vector<float> logits(model_.labels().size());
    session_->run(input, logits.data());

    ExplainedImage out;
    out.prediction.logits = logits;
    out.prediction.probabilities = softmax(logits);
    out.predicted = top_k(out.prediction, 1).front().index;

    if (layers_ > 0) {
        Explanation rollout{"attention rollout", grid_h_, grid_w_,
                            min_max_normalized(patch_relevance(attention_rollout(attention_, heads_, tokens_), tokens_, prefix_,
                                                                               mean_pooling_))};
        out.explanations.push_back(std::move(rollout));
        if (layer >= 0) {
            Explanation single{"layer " + std::to_string(layer) + " attention", grid_h_, grid_w_,
                               min_max_normalized(patch_relevance(head_average(attention_[layer], heads_, tokens_),
                                                                  tokens_, prefix_, mean_pooling_))};
            out.explanations.push_back(std::move(single));
        }
        return out;
    }
    if (resnet_) {  // Grad-CAM on layer3: a backward pass through layer4 in plain loops
        constexpr int kStage = 2;
        const Preprocessing& p = model_.preprocessing();
        const std::vector<FeatureMap> stages = resnet_->forward(input, p.output_height(), p.output_width());
        const FeatureMap& a = stages[kStage];
        const FeatureMap g = resnet_->class_gradient(kStage, a, out.predicted);
        out.explanations.push_back({"Grad-CAM on layer3", a.height, a.width,
                                    min_max_normalized(grad_cam(a.values, g.values, a.channels, a.height, a.width))});
    }
    const FeatureMapShape shape = feature_probe_->feature_shape();
    std::vector<float> features(shape.batch * shape.channels * shape.height * shape.width);
    feature_probe_->copy_features(features.data());
    const Tensor& weight = feature_probe_->classifier_weight();
    Explanation cam{resnet_ ? "class activation map of layer4" : "class activation map", shape.height, shape.width,
                    min_max_normalized(class_activation_map(features.data(), shape.channels, shape.height, shape.width,
                                                            weight.values.data() + out.predicted * shape.channels))};
    out.explanations.push_back(std::move(cam));
    return out;
}

}  // namespace vitc
