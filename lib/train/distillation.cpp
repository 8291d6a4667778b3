#include "train/distillation.hpp"

#include <algorithm>

#include "errors.hpp"
#include "tasks/image_folder.hpp"
#include "train/init_from.hpp"

namespace vitc::train {

namespace {

std::string size_text(int channels, int height, int width) {
    return std::to_string(width) + "x" + std::to_string(height) + "x" + std::to_string(channels);
}

}  // namespace

Teacher::Teacher(const std::string& directory, const std::vector<std::string>& classes, int channels, int height,
                 int width, const std::vector<float>& mean, const std::vector<float>& stddev, Precision precision)
    : directory_(directory), channels_(channels), height_(height), width_(width) {
    // read_pretrained checks the directory as --init-from does and gives the labels, the input
    // size, the normalisation and a fingerprint of the weights.
    const PretrainedModel p = read_pretrained(directory);
    const ArchitectureInput in = p.input();
    if (in.channels != channels || in.height != height || in.width != width)
        throw Error("--distill-from " + directory + ": the teacher takes " + size_text(in.channels, in.height, in.width) +
                    " images, the data is " + size_text(channels, height, width));
    if (p.labels.size() != classes.size())
        throw Error("--distill-from " + directory + ": the teacher has " + std::to_string(p.labels.size()) +
                    " labels, the data " + std::to_string(classes.size()) + " classes");
    for (const std::string& label : p.labels) {
        int match = -1;
        for (size_t k = 0; k < classes.size(); ++k)
            if (label_match_key(classes[k]) == label_match_key(label)) match = match < 0 ? static_cast<int>(k) : -2;
        if (match < 0 || std::count(class_of_row_.begin(), class_of_row_.end(), match))
            throw Error("--distill-from " + directory + ": the teacher's label '" + label +
                        "' is not exactly one of the data's classes");
        class_of_row_.push_back(match);
    }
    // Student x = (u - m) / s and teacher y = (u - m') / s' for the same u = pixel / 255:
    // y = x s / s' + (m - m') / s'.
    for (int c = 0; c < channels; ++c) {
        scale_.push_back(stddev[c] / p.std[c]);
        shift_.push_back((mean[c] - p.mean[c]) / p.std[c]);
    }
    fingerprint_ = p.fingerprint;
    model_ = load_model(directory, precision);
}

Teacher::~Teacher() = default;

std::string Teacher::summary() const {
    const ModelSummary s = model_->summary();
    return s.architecture + ", " + std::to_string(s.parameters) + " parameters";
}

void Teacher::predict(const float* images, int n, int* top1) {
    if (n != session_batch_) {
        session_ = model_->create_session(n, height_, width_);
        session_batch_ = n;
    }
    const size_t plane = static_cast<size_t>(height_) * width_, image = plane * channels_;
    const auto classes = static_cast<int>(class_of_row_.size());
    input_.resize(n * image);
    logits_.resize(static_cast<size_t>(n) * classes);
    for (int b = 0; b < n; ++b)
        for (int c = 0; c < channels_; ++c) {
            const float* from = images + b * image + c * plane;
            float* to = input_.data() + b * image + c * plane;
            for (size_t i = 0; i < plane; ++i) to[i] = scale_[c] * from[i] + shift_[c];
        }
    session_->run(input_.data(), logits_.data());
    for (int b = 0; b < n; ++b) {
        const float* z = logits_.data() + static_cast<size_t>(b) * classes;
        top1[b] = class_of_row_[std::max_element(z, z + classes) - z];
    }
}

}  // namespace vitc::train
