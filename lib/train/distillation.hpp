#pragma once
// `vitc train --distill-from MODEL_DIR`: hard-label knowledge distillation (Touvron et al., 2021,
// "Training data-efficient image transformers", DeiT). A trained teacher (any model directory
// vitc trains from: a ViT or a ResNet) classifies every augmented training batch, and the student
// learns from its top-1 as well as from the true label:
//
//   loss = (1 - w) CE(z, smoothed label) + w CE(z, teacher's top-1)
//
// which is one cross-entropy against the mixed target (1 - w) q + w onehot(teacher)
// (train/cross_entropy.hpp). DeiT's w is 1/2. The student keeps its plain architecture (one class
// token, one head): no distillation token, so the model written is an ordinary model directory.
//
// The teacher runs vitc's inference path (its BatchNorm folded) in the run's precision, on the
// student's batch re-normalised to the teacher's own mean and std. Its input size and channels
// must be the data's, and its labels the data's classes (matched as --init-from matches them).
#include <memory>
#include <string>
#include <vector>

#include "models/model.hpp"
#include "runtime/precision.hpp"

namespace vitc::train {

class Teacher {
public:
    // Loads the model directory and checks it against the data. `mean`/`stddev`: the student's
    // normalisation, (pixel / 255 - mean) / std per channel. Throws Error naming the directory.
    Teacher(const std::string& directory, const std::vector<std::string>& classes, int channels, int height,
            int width, const std::vector<float>& mean, const std::vector<float>& stddev, Precision precision);
    ~Teacher();

    // images [n, C, H, W] in the student's normalisation -> the teacher's top-1 class (the data's
    // class index) per image.
    void predict(const float* images, int n, int* top1);

    const std::string& directory() const { return directory_; }
    // A hash of the teacher's weights and normalisation (--resume checks it).
    const std::string& fingerprint() const { return fingerprint_; }
    std::string summary() const;  // the architecture and parameter count

private:
    std::string directory_, fingerprint_;
    std::unique_ptr<Model> model_;
    std::unique_ptr<Session> session_;
    int session_batch_ = 0;
    int channels_, height_, width_;
    std::vector<float> scale_, shift_;  // teacher input = scale * student input + shift, per channel
    std::vector<int> class_of_row_;     // the data's class for each of the teacher's logits
    std::vector<float> input_, logits_;
};

}  // namespace vitc::train
