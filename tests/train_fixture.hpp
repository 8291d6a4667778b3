#pragma once
// Loading the training fixtures of scripts/make_train_fixtures.py (tests/data/train/<case>/).
#include <catch2/catch.hpp>
#include <cmath>
#include <string>
#include <vector>

#include "io/model_config.hpp"
#include "io/safetensors.hpp"
#include "runtime/threads.hpp"
#include "train/optimizer.hpp"
#include "train/vit_train.hpp"
#include <nlohmann/json.hpp>

namespace vitc::train {

// These models are tiny: on a machine shared with other jobs, OpenMP's barriers between two
// threads cost more than the work (7 s instead of 0.3 s for the [train] tests, measured). Tests
// run them on one thread and restore the count afterwards.
struct SingleThread {
    int saved = runtime::max_threads();
    SingleThread() { runtime::set_threads(1); }
    ~SingleThread() { runtime::set_threads(saved); }
};

inline const char* const kTrainFixtureCases[] = {"p4_cls_learned", "p1_mean_sincos", "p4_mean_cls_learned_rgb",
                                                 "p2_cls_sincos", "p4_cls_learned_shifted",
                                                 "p2_mean_sincos_shifted_lsa"};

struct TrainFixture {
    std::string folder;
    nlohmann::json config;
    ViTArchitecture arch;
    SafetensorsFile file;
    ParameterLayout layout;
    std::vector<float> parameter_buffer, gradient_buffer;
    ViTParameters params, grads;
    std::vector<float> input;
    std::vector<int> labels;
    int batch = 0;
    float label_smoothing = 0;

    explicit TrainFixture(const std::string& name)
        : folder(std::string(VITC_TEST_DATA_DIR) + "/train/" + name),
          config(read_json_file(folder + "/config.json")),
          arch(read_architecture(folder + "/config.json")),
          file(SafetensorsFile::open(folder + "/fixture.safetensors")),
          layout(vit_parameter_layout(arch)) {
        parameter_buffer.assign(layout.size(), 0.0f);
        gradient_buffer.assign(layout.size(), 0.0f);
        for (const ParameterTensor& t : layout.tensors()) {
            REQUIRE(file.info(t.name).shape == t.shape);
            const std::vector<float> v = file.read_f32(t.name);
            std::copy(v.begin(), v.end(), parameter_buffer.begin() + t.offset);
        }
        params = vit_parameter_views(arch, layout, parameter_buffer.data());
        grads = vit_parameter_views(arch, layout, gradient_buffer.data());
        input = file.read_f32("input");
        for (float l : file.read_f32("labels")) labels.push_back(static_cast<int>(l));
        batch = static_cast<int>(labels.size());
        label_smoothing = config.at("label_smoothing").get<float>();
    }
};

// The optimiser settings a fixture's config.json gives under "adamw" or "sgd".
inline OptimizerSettings optimizer_settings_from(const nlohmann::json& j, OptimizerKind kind) {
    OptimizerSettings s;
    s.kind = kind;
    s.lr = j.at("lr").get<float>();
    s.weight_decay = j.at("weight_decay").get<float>();
    s.clip_norm = j.at("clip").get<float>();
    if (kind == OptimizerKind::AdamW) {
        s.beta1 = j.at("betas")[0].get<float>();
        s.beta2 = j.at("betas")[1].get<float>();
        s.eps = j.at("eps").get<float>();
    } else {
        s.momentum = j.at("momentum").get<float>();
    }
    return s;
}

// |got - want| <= tolerance * max|want| for every element; names the first element that is not.
// max |got - want| / max |want| (NaN counts as infinitely far)
inline double relative_error(const float* got, const std::vector<float>& want) {
    double largest = 0, worst = 0;
    for (size_t i = 0; i < want.size(); ++i) {
        largest = std::max(largest, std::abs(double(want[i])));
        const double e = std::abs(double(got[i]) - want[i]);
        worst = std::isnan(e) ? INFINITY : std::max(worst, e);
    }
    return worst / largest;
}

inline void check_close(const std::string& name, const float* got, const std::vector<float>& want,
                        double tolerance = 1e-4) {
    double largest = 0;
    for (float w : want) largest = std::max(largest, std::abs(double(w)));
    size_t worst = 0;
    double worst_error = -1;
    for (size_t i = 0; i < want.size(); ++i) {
        const double e = std::abs(double(got[i]) - want[i]);
        if (!(e <= worst_error)) worst = i, worst_error = e;  // NaN counts as worst
    }
    INFO(name << ": worst element " << worst << " is " << got[worst] << ", PyTorch " << want[worst]
              << " (largest magnitude " << largest << ")");
    CHECK(worst_error <= tolerance * largest);
}

}  // namespace vitc::train
