#include "train/linear_probe.hpp"

#include <algorithm>
#include <chrono>
#include <iomanip>
#include <ostream>

#include "runtime/linear_train.hpp"
#include "runtime/threads.hpp"
#include "train/augment.hpp"

namespace vitc::train {

namespace {

// logits [N, K] = x [N, F] W^T + b on the cached features; backward writes dW and db only.
class HeadSession : public TrainSession {
public:
    HeadSession(const ParameterLayout& layout, const TrainModel::Head& head, int batch, int64_t F, int64_t K)
        : weight_(layout.find(head.weight).offset), bias_(layout.find(head.bias).offset), N_(batch), F_(F),
          stream_(runtime::cpu_engine()), linear_(batch, F, K), x_(batch * F), logits_(batch * K) {}

    int batch() const override { return N_; }
    const float* forward(const float* parameters, float* /*state*/, const float* features, Mode /*mode*/) override {
        std::copy_n(features, N_ * F_, x_.data());  // backward reads them after the caller's buffer moves on
        linear_.forward(stream_, x_.data(), parameters + weight_, parameters + bias_, logits_.data());
        stream_.wait();
        return logits_.data();
    }
    void backward(const float* parameters, float* gradients, const float* dlogits) override {
        linear_.backward(stream_, dlogits, x_.data(), parameters + weight_, nullptr, gradients + weight_,
                         gradients + bias_);
        stream_.wait();
    }
    std::vector<std::string> implementations() const override { return linear_.implementations(); }

private:
    size_t weight_, bias_;
    int64_t N_, F_;
    dnnl::stream stream_;
    runtime::LinearTrain linear_;
    std::vector<float> x_, logits_;
};

}  // namespace

void FeatureTable::add(uint32_t image, const float* features) {
    row_of_.at(image) = static_cast<int64_t>(rows_.size() / width_);
    rows_.insert(rows_.end(), features, features + width_);
}

void FeatureTable::fill(const ImageDataset& data, const uint32_t* indices, int n, float* x, int* labels) const {
    for (int b = 0; b < n; ++b) {
        const int64_t row = row_of_.at(indices[b]);
        std::copy_n(rows_.data() + row * width_, width_, x + b * width_);
        labels[b] = data.labels[indices[b]];
    }
}

LinearProbe::LinearProbe(std::unique_ptr<TrainModel> backbone, uint64_t seed) : backbone_(std::move(backbone)) {
    weights_.assign(backbone_->parameters().size(), 0.0f);
    state_.assign(backbone_->state().size(), 0.0f);
    backbone_->initialise(weights_.data(), state_.data(), seed);
    const Head head = backbone_->head();
    const ParameterTensor &w = backbone_->parameters().find(head.weight), &b = backbone_->parameters().find(head.bias);
    features_ = w.shape.at(1);
    head_layout_.add(w.name, w.shape, w.decay);
    head_layout_.add(b.name, b.shape, b.decay);
}

void LinearProbe::initialise(float* parameters, float* /*state*/, uint64_t /*seed*/) const {
    std::fill(parameters, parameters + head_layout_.size(), 0.0f);
    for (const ParameterTensor& t : head_layout_.tensors())
        std::copy_n(weights_.data() + backbone_->parameters().find(t.name).offset, t.numel, parameters + t.offset);
}

std::unique_ptr<TrainSession> LinearProbe::session(int batch, const SessionOptions& /*options*/) const {
    return std::make_unique<HeadSession>(head_layout_, head(), batch, features_, classes());
}

nlohmann::json LinearProbe::config() const {
    nlohmann::json c = backbone_->config();
    c["linear_probe"] = true;  // a checkpoint of a probe never resumes a whole-model run
    return c;
}

void LinearProbe::write_model_directory(const std::string& directory, const float* parameters,
                                        const float* /*state*/, const std::vector<float>& mean,
                                        const std::vector<float>& std) const {
    std::vector<float> whole = weights_;
    for (const ParameterTensor& t : head_layout_.tensors())
        std::copy_n(parameters + t.offset, t.numel, whole.data() + backbone_->parameters().find(t.name).offset);
    backbone_->write_model_directory(directory, whole.data(), state_.data(), mean, std);
}

FeatureTable LinearProbe::compute_features(const ImageDataset& data, const std::vector<uint32_t>& images,
                                           const std::vector<float>& mean, const std::vector<float>& std, int batch,
                                           const SessionOptions& options, std::ostream& out, bool progress) const {
    const auto start = std::chrono::steady_clock::now();
    FeatureTable table(data.size(), features_);
    std::unique_ptr<TrainSession> session, remainder;
    std::vector<float> x(static_cast<size_t>(batch) * data.image_bytes());
    std::vector<float> state = state_;  // Eval mode reads it; a copy keeps this function const
    for (size_t at = 0; at < images.size(); at += batch) {
        const int n = static_cast<int>(std::min<size_t>(batch, images.size() - at));
        std::unique_ptr<TrainSession>& s = n == batch ? session : remainder;
        if (!s) s = backbone_->session(n, options);
        for (int b = 0; b < n; ++b)
            augment_and_normalise(data.image(images[at + b]), data.channels, data.height, data.width, Augmentation{}, 0,
                                  mean, std, x.data() + b * data.image_bytes());
        const float* f = s->features(weights_.data(), state.data(), x.data());
        for (int b = 0; b < n; ++b) table.add(images[at + b], f + b * features_);
        if (progress) out << "\rfeatures: " << at + n << "/" << images.size() << " images" << std::flush;
    }
    if (progress) out << "\r" << std::string(40, ' ') << "\r";
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    out << "features: " << images.size() << " images through the frozen backbone in " << std::fixed
        << std::setprecision(1) << seconds << " s (" << std::setprecision(0) << images.size() / std::max(seconds, 1e-9)
        << " img/s, " << runtime::thread_count_text() << "); training the head's " << head_layout_.count()
        << " parameters on them\n";
    return table;
}

}  // namespace vitc::train
