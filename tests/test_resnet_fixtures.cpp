// The oneDNN ResNet forward against torchvision's ResNet evaluated in float64
// (scripts/make_cnn_fixtures.py; cases listed in tests/data/cnn/README.md): logits and the last
// feature map, BatchNorm folding on a hand-checked case, and config/weight mismatches.
#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "errors.hpp"
#include "explain/cam.hpp"
#include "models/probes.hpp"
#include "io/safetensors.hpp"
#include "models/fold_batch_norm.hpp"
#include "models/model.hpp"
#include "test_helpers.hpp"

namespace fs = std::filesystem;
using namespace vitc;

namespace {

// Both for logits (|logit| up to ~6) and features (up to ~4.3); the fixtures' README measures
// PyTorch's own float32 error at <= 3.3e-5.
constexpr float kTolerance = 1e-4f;

std::vector<std::string> fixture_cases() {
    std::vector<std::string> cases;
    for (const auto& entry : fs::directory_iterator(fs::path(VITC_TEST_DATA_DIR) / "cnn"))
        if (entry.is_directory()) cases.push_back(entry.path().string());
    std::sort(cases.begin(), cases.end());
    return cases;
}

float max_abs_difference(const std::vector<float>& a, const std::vector<float>& b) {
    REQUIRE(a.size() == b.size());
    float worst = 0;
    for (size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::abs(a[i] - b[i]));
    return worst;
}

// A copy of a fixture's model directory with config.json edited by `edit`.
void copy_with_config(const std::string& from, const std::string& to, const std::function<void(nlohmann::json&)>& edit) {
    fs::copy_file(fs::path(from) / "model.safetensors", fs::path(to) / "model.safetensors");
    std::ifstream in(fs::path(from) / "config.json");
    nlohmann::json config = nlohmann::json::parse(in);
    edit(config);
    test::write_file((fs::path(to) / "config.json").string(), config.dump());
}

std::string load_error(const std::string& dir) {
    try {
        load_model(dir);
    } catch (const ModelError& e) {
        return e.what();
    }
    return "";
}

}  // namespace

TEST_CASE("ResNet logits and features match the torchvision reference on every fixture", "[resnet][fixtures]") {
    const auto cases = fixture_cases();
    REQUIRE(cases.size() >= 4);
    for (const std::string& dir : cases) {
        DYNAMIC_SECTION(fs::path(dir).filename().string()) {
            const auto model = load_model(dir);
            CHECK(model->summary().family == "resnet");
            const auto io = SafetensorsFile::open((fs::path(dir) / "io.safetensors").string());
            const auto& input = io.info("input").shape;
            const auto& feature_shape = io.info("features").shape;
            const int n = static_cast<int>(input[0]), h = static_cast<int>(input[2]), w = static_cast<int>(input[3]);
            const std::vector<float> images = io.read_f32("input");
            const std::vector<float> expected_logits = io.read_f32("logits");
            const std::vector<float> expected_features = io.read_f32("features");

            auto session = model->create_session(n, h, w);
            std::vector<float> logits(expected_logits.size());
            session->run(images.data(), logits.data());
            CHECK(max_abs_difference(logits, expected_logits) <= kTolerance);

            auto* probe = dynamic_cast<FeatureMapProbe*>(session.get());
            REQUIRE(probe);
            const FeatureMapShape shape = probe->feature_shape();
            CHECK(std::vector<int64_t>{shape.batch, shape.channels, shape.height, shape.width} == feature_shape);
            std::vector<float> features(expected_features.size());
            probe->copy_features(features.data());
            CHECK(max_abs_difference(features, expected_features) <= kTolerance);

            // The class activation map averages to the logit (minus the bias): CAM's defining identity.
            const Tensor& fc = probe->classifier_weight();
            const int64_t K = fc.dim(0), cells = shape.height * shape.width;
            for (int64_t i = 0; i < n; ++i)
                for (int64_t k = 0; k < K; ++k) {
                    const auto cam = class_activation_map(features.data() + i * shape.channels * cells, shape.channels,
                                                          shape.height, shape.width, fc.values.data() + k * shape.channels);
                    double mean = 0;
                    for (float v : cam) mean += v / cells;
                    CHECK(mean + probe->classifier_bias().values[k] == Approx(logits[i * K + k]).margin(kTolerance));
                }

            // Image 0 alone gives what it gave in the batch (sessions differ only in N).
            auto single = model->create_session(1, h, w);
            std::vector<float> one(K);
            single->run(images.data(), one.data());
            for (int64_t k = 0; k < K; ++k) CHECK(one[k] == Approx(logits[k]).margin(1e-5));
        }
    }
}

TEST_CASE("bf16 ResNet logits and features stay close to f32; int8 is refused", "[resnet][bf16]") {
    // bf16 rounds every activation (the residual stream included) and weight to 8 significant
    // bits. On these fixtures (|logit| up to 5.8, features up to 4.3) PyTorch running the same
    // BN-folded network in bf16 (make_cnn_fixtures.functional_forward, dtype bfloat16) erred by
    // 0.07-0.96 on logits and 0.10-0.66 on features; vitc, accumulating in f32, by 0.04-0.32 and
    // 0.06-0.45 when this test was written.
    constexpr float kBf16Tolerance = 0.5f;
    for (const std::string& dir : fixture_cases()) {
        DYNAMIC_SECTION(fs::path(dir).filename().string()) {
            const auto model = load_model(dir, Precision::BF16);
            const auto io = SafetensorsFile::open((fs::path(dir) / "io.safetensors").string());
            const auto& input = io.info("input").shape;
            const std::vector<float> images = io.read_f32("input");
            const std::vector<float> expected_logits = io.read_f32("logits");
            const std::vector<float> expected_features = io.read_f32("features");
            auto session = model->create_session(static_cast<int>(input[0]), static_cast<int>(input[2]),
                                                 static_cast<int>(input[3]));
            std::vector<float> logits(expected_logits.size()), features(expected_features.size());
            session->run(images.data(), logits.data());
            dynamic_cast<FeatureMapProbe&>(*session).copy_features(features.data());
            const float logit_error = max_abs_difference(logits, expected_logits);
            const float feature_error = max_abs_difference(features, expected_features);
            INFO("max |bf16 - reference|: logits " << logit_error << ", features " << feature_error);
            CHECK(logit_error <= kBf16Tolerance);
            CHECK(feature_error <= kBf16Tolerance);
            CHECK(logit_error > 0);  // really ran in bf16
            CHECK_THROWS_WITH(load_model(dir, Precision::INT8), Catch::Contains("int8 is not implemented for ResNet"));
        }
    }
}

TEST_CASE("BatchNorm folds into the convolution before it", "[resnet]") {
    // Two output channels, one input channel, 1x2 kernels. s = gamma / sqrt(var + eps):
    // channel 0: gamma 2, var + eps = 4, s = 1; channel 1: gamma 6, var + eps = 9, s = 2.
    const Tensor weight{{2, 1, 1, 2}, {1.0f, -2.0f, 0.5f, 4.0f}};
    const Tensor gamma{{2}, {2.0f, 6.0f}}, beta{{2}, {0.5f, -1.0f}}, mean{{2}, {3.0f, 0.25f}};
    const Tensor var{{2}, {4.0f - kBatchNormEps, 9.0f - kBatchNormEps}};
    const FoldedConv f = fold_batch_norm(weight, gamma, beta, mean, var);
    REQUIRE(f.weight.shape == weight.shape);
    // W' = W * s: s = (1, 2)
    CHECK(f.weight.values[0] == Approx(1.0f));
    CHECK(f.weight.values[1] == Approx(-2.0f));
    CHECK(f.weight.values[2] == Approx(1.0f));
    CHECK(f.weight.values[3] == Approx(8.0f));
    // b' = beta - mean * s: 0.5 - 3 * 1 = -2.5; -1 - 0.25 * 2 = -1.5
    REQUIRE(f.bias.shape == std::vector<int64_t>{2});
    CHECK(f.bias.values[0] == Approx(-2.5f));
    CHECK(f.bias.values[1] == Approx(-1.5f));
    // And it is BN(conv(x)) on an input: x = (1, 1) -> conv = (-1, 4.5); BN -> ((-1-3)*1+0.5, (4.5-0.25)*2-1)
    CHECK(f.weight.values[0] + f.weight.values[1] + f.bias.values[0] == Approx(-3.5f));
    CHECK(f.weight.values[2] + f.weight.values[3] + f.bias.values[1] == Approx(7.5f));
}

TEST_CASE("ResNet config and weights that disagree are refused, naming the tensor", "[resnet]") {
    const std::string fixture = (fs::path(VITC_TEST_DATA_DIR) / "cnn" / "resnet18_layout_gray").string();
    test::TempDir dir;
    SECTION("wrong block kind") {
        copy_with_config(fixture, dir.path.string(), [](nlohmann::json& c) { c["block"] = "bottleneck"; });
        CHECK_THAT(load_error(dir.path.string()), Catch::Contains("layer1.0.conv3.weight"));
    }
    SECTION("fewer blocks in the config than in the weights") {
        copy_with_config(fixture, dir.path.string(), [](nlohmann::json& c) { c["layers"] = {2, 1, 2, 2}; });
        CHECK_THAT(load_error(dir.path.string()), Catch::Contains("layer2.1.conv1.weight"));
    }
    SECTION("wrong width") {
        copy_with_config(fixture, dir.path.string(), [](nlohmann::json& c) { c["widths"] = {8, 16, 32, 32}; });
        CHECK_THAT(load_error(dir.path.string()), Catch::Contains("layer4.0.conv1.weight' has shape [64, 32, 3, 3], expected [32, 32, 3, 3]"));
    }
    SECTION("wrong stem") {
        copy_with_config(fixture, dir.path.string(), [](nlohmann::json& c) { c["stem"] = "small"; });
        CHECK_THAT(load_error(dir.path.string()), Catch::Contains("'conv1.weight' has shape [8, 1, 7, 7], expected [8, 1, 3, 3]"));
    }
    SECTION("labels that do not match fc") {
        copy_with_config(fixture, dir.path.string(), [](nlohmann::json& c) { c["id2label"] = {{"0", "a"}, {"1", "b"}}; });
        CHECK_THAT(load_error(dir.path.string()), Catch::Contains("2 labels, but 'fc.weight' has 5 rows"));
    }
    SECTION("unknown block kind") {
        copy_with_config(fixture, dir.path.string(), [](nlohmann::json& c) { c["block"] = "dense"; });
        CHECK_THAT(load_error(dir.path.string()), Catch::Contains("field 'block' = 'dense' (expected basic or bottleneck)"));
    }
}

TEST_CASE("ResNet without preprocessor_config.json: resize to image_size, ImageNet statistics", "[resnet]") {
    const auto rgb = load_model((fs::path(VITC_TEST_DATA_DIR) / "cnn" / "resnet50_layout_rgb").string());
    CHECK(rgb->preprocessing().output_height() == 40);
    CHECK(rgb->preprocessing().mean == std::vector<float>{0.485f, 0.456f, 0.406f});
    CHECK(rgb->preprocessing().std == std::vector<float>{0.229f, 0.224f, 0.225f});
    const auto gray = load_model((fs::path(VITC_TEST_DATA_DIR) / "cnn" / "resnet18_layout_gray").string());
    CHECK(gray->preprocessing().mean == std::vector<float>{0.449f});
}

TEST_CASE("ResNet summary: parameters as PyTorch counts them, FLOPs by hand", "[resnet]") {
    for (const std::string& dir : fixture_cases()) {
        const auto weights = SafetensorsFile::open((fs::path(dir) / "model.safetensors").string());
        int64_t parameters = 0;  // every stored tensor but the BatchNorm running statistics
        for (const auto& [name, info] : weights.tensors())
            if (name.find("running_") == std::string::npos) parameters += info.numel();
        CHECK(load_model(dir)->summary().parameters == parameters);
    }
    // small_stem_rgb (basic 1,1,1,1, widths 8,16,16,32, 3x28x28, 4 classes), 2 x multiply-adds:
    //   conv1 338688; layer1 903168 + 903168; layer2 451584 + 903168 + downsample 50176;
    //   layer3 225792 + 225792 + 25088; layer4 147456 + 294912 + 16384; fc 256
    const auto small = load_model((fs::path(VITC_TEST_DATA_DIR) / "cnn" / "small_stem_rgb").string());
    CHECK(small->summary().flops_per_image == 4485632);
}
