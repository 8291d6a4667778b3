// Ten optimiser steps on one batch, against PyTorch's torch.optim.AdamW and SGD(nesterov=True)
// with the same warm-up + cosine schedule and gradient clipping (scripts/make_train_fixtures.py):
// the loss before every step must agree within 1e-4.
#include <catch2/catch.hpp>
#include <cmath>

#include "train/cross_entropy.hpp"
#include "train/optimizer.hpp"
#include "train_fixture.hpp"

using namespace vitc;
using namespace vitc::train;

namespace {

void check_losses(const char* name, OptimizerKind kind) {
    TrainFixture f(name);
    const char* key = kind == OptimizerKind::AdamW ? "adamw" : "sgd";
    const nlohmann::json& j = f.config.at(key);
    const std::vector<float> expected = f.file.read_f32(std::string(key) + ".losses");
    const int steps = f.config.at("steps").get<int>(), warmup = j.at("warmup").get<int>();
    ViTTrainSession session(f.arch, f.batch);
    Optimizer optimizer(f.layout, optimizer_settings_from(j, kind));
    const int64_t K = f.arch.classes();
    std::vector<float> dlogits(f.batch * K);
    for (int step = 0; step < steps; ++step) {
        const float* logits = session.forward(f.params, f.input.data());
        const LossResult loss = cross_entropy(logits, f.labels.data(), f.batch, K, f.label_smoothing, dlogits.data());
        INFO(name << " " << key << " step " << step << ": loss " << loss.loss << ", PyTorch " << expected[step]);
        CHECK(std::abs(loss.loss - expected[step]) <= 1e-4);
        session.backward(f.params, f.grads, dlogits.data());
        clip_by_global_norm(f.gradient_buffer.data(), f.gradient_buffer.size(), optimizer.settings().clip_norm);
        optimizer.step(f.parameter_buffer.data(), f.gradient_buffer.data(),
                       scheduled_learning_rate(optimizer.settings().lr, step, warmup, steps));
    }
}

}  // namespace

TEST_CASE("10 AdamW steps give PyTorch's losses", "[train]") {
    SingleThread one_thread;
    for (const char* name : kTrainFixtureCases) check_losses(name, OptimizerKind::AdamW);
}

TEST_CASE("10 SGD Nesterov steps give PyTorch's losses", "[train]") {
    SingleThread one_thread;
    for (const char* name : kTrainFixtureCases) check_losses(name, OptimizerKind::SGD);
}

TEST_CASE("Learning-rate schedule: linear warm-up, then cosine decay to zero", "[train]") {
    CHECK(scheduled_learning_rate(1.0f, 0, 4, 10) == Approx(0.25));
    CHECK(scheduled_learning_rate(1.0f, 3, 4, 10) == Approx(1.0));
    CHECK(scheduled_learning_rate(1.0f, 4, 4, 10) == Approx(1.0));
    CHECK(scheduled_learning_rate(1.0f, 7, 4, 10) == Approx(0.5));
    CHECK(scheduled_learning_rate(1.0f, 10, 4, 10) == Approx(0.0).margin(1e-7));
}
