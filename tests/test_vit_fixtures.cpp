// The oneDNN ViT forward against logits computed by torchvision's VisionTransformer in float64
// (scripts/make_vit_fixtures.py; cases listed in tests/data/vit/README.md).
#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>

#include "io/safetensors.hpp"
#include "models/model.hpp"
#include "runtime/attention_kernel.hpp"

namespace fs = std::filesystem;
using namespace vitc;

namespace {

constexpr float kLogitTolerance = 1e-4f;

std::vector<std::string> fixture_cases() {
    std::vector<std::string> cases;
    for (const auto& entry : fs::directory_iterator(fs::path(VITC_TEST_DATA_DIR) / "vit"))
        if (entry.is_directory()) cases.push_back(entry.path().string());
    std::sort(cases.begin(), cases.end());
    return cases;
}

}  // namespace

TEST_CASE("ViT logits match the torchvision reference on every fixture", "[vit][fixtures]") {
    const auto cases = fixture_cases();
    REQUIRE(cases.size() >= 7);
    for (const std::string& dir : cases) {
        DYNAMIC_SECTION(fs::path(dir).filename().string()) {
            const auto model = load_model(dir);
            const auto io = SafetensorsFile::open((fs::path(dir) / "io.safetensors").string());
            const auto& input = io.info("input");
            const auto& expected_info = io.info("logits");
            const int n = static_cast<int>(input.shape[0]);
            const std::vector<float> images = io.read_f32("input");
            const std::vector<float> expected = io.read_f32("logits");
            REQUIRE(expected_info.shape[1] == static_cast<int64_t>(model->labels().size()));

            auto session = model->create_session(n, static_cast<int>(input.shape[2]), static_cast<int>(input.shape[3]));
            std::vector<float> logits(expected.size());
            session->run(images.data(), logits.data());

            float max_error = 0;
            size_t worst = 0;
            for (size_t i = 0; i < logits.size(); ++i)
                if (std::abs(logits[i] - expected[i]) > max_error) {
                    max_error = std::abs(logits[i] - expected[i]);
                    worst = i;
                }
            INFO("worst logit " << worst << ": got " << logits[worst] << ", expected " << expected[worst]);
            CHECK(max_error <= kLogitTolerance);
        }
    }
}

// Runs a fixture in `precision`; returns max |logit - reference| and the largest |reference|.
std::pair<float, float> reduced_precision_error(const std::string& dir, Precision precision) {
    const auto io = SafetensorsFile::open((fs::path(dir) / "io.safetensors").string());
    const auto& input = io.info("input");
    const std::vector<float> images = io.read_f32("input");
    const std::vector<float> expected = io.read_f32("logits");
    const auto model = load_model(dir, precision);
    auto session = model->create_session(static_cast<int>(input.shape[0]), static_cast<int>(input.shape[2]),
                                         static_cast<int>(input.shape[3]));
    std::vector<float> logits(expected.size());
    session->run(images.data(), logits.data());
    float max_error = 0, largest = 0;
    for (size_t i = 0; i < logits.size(); ++i) {
        max_error = std::max(max_error, std::abs(logits[i] - expected[i]));
        largest = std::max(largest, std::abs(expected[i]));
    }
    return {max_error, largest};
}

TEST_CASE("bf16 logits stay close to f32", "[vit][bf16]") {
    // bf16 keeps 8 bits of mantissa (about 2-3 decimal digits); with f32 accumulation and f32
    // LayerNorm/softmax the logits of these O(1-10) fixtures move by a few hundredths.
    constexpr float kBf16Tolerance = 0.15f;
    for (const std::string& dir : fixture_cases()) {
        DYNAMIC_SECTION(fs::path(dir).filename().string()) {
            const auto [max_error, largest] = reduced_precision_error(dir, Precision::BF16);
            INFO("max |bf16 - reference| = " << max_error << ", largest |logit| " << largest);
            CHECK(max_error <= kBf16Tolerance);
            CHECK(max_error > 0);  // really ran in bf16
        }
    }
}

TEST_CASE("int8 logits stay close to f32", "[vit][int8]") {
    // Each Linear's input is rounded to 1/254 of its largest magnitude, each weight row likewise;
    // over 1-3 blocks of random weights the logits moved by 0.8% to 4.4% of the largest |logit|
    // (0.03 to 0.19) when this test was written. A wrong scale or a lost bias moves them by O(1).
    constexpr float kInt8RelativeTolerance = 0.06f;
    for (const std::string& dir : fixture_cases()) {
        DYNAMIC_SECTION(fs::path(dir).filename().string()) {
            const auto [max_error, largest] = reduced_precision_error(dir, Precision::INT8);
            INFO("max |int8 - reference| = " << max_error << ", largest |logit| " << largest);
            CHECK(max_error <= kInt8RelativeTolerance * largest);
            CHECK(max_error > 0);  // really ran in int8
        }
    }
}

TEST_CASE("the tiled attention kernel gives the full kernel's logits on every fixture", "[vit][fixtures][attention]") {
    // Same weights, same input; only the attention kernel differs (runtime/attention_kernel.hpp).
    constexpr float kKernelTolerance = 1e-5f;
    auto logits_with = [](const std::string& dir, runtime::AttentionKernel kernel, Precision precision) {
        runtime::set_attention_kernel(kernel);
        const auto model = load_model(dir, precision);
        const auto io = SafetensorsFile::open((fs::path(dir) / "io.safetensors").string());
        const auto& input = io.info("input");
        const std::vector<float> images = io.read_f32("input");
        auto session = model->create_session(static_cast<int>(input.shape[0]), static_cast<int>(input.shape[2]),
                                             static_cast<int>(input.shape[3]));
        std::vector<float> logits(io.info("logits").shape[0] * io.info("logits").shape[1]);
        session->run(images.data(), logits.data());
        runtime::set_attention_kernel(runtime::AttentionKernel::Auto);
        return std::pair{logits, io.read_f32("logits")};
    };
    for (const std::string& dir : fixture_cases()) {
        DYNAMIC_SECTION(fs::path(dir).filename().string()) {
            const auto [full, expected] = logits_with(dir, runtime::AttentionKernel::Full, Precision::F32);
            const auto tiled = logits_with(dir, runtime::AttentionKernel::Tiled, Precision::F32).first;
            float between = 0, to_reference = 0;
            for (size_t i = 0; i < full.size(); ++i) {
                between = std::max(between, std::abs(tiled[i] - full[i]));
                to_reference = std::max(to_reference, std::abs(tiled[i] - expected[i]));
            }
            INFO("max |tiled - full| = " << between << ", max |tiled - reference| = " << to_reference);
            CHECK(between <= kKernelTolerance);
            CHECK(to_reference <= kLogitTolerance);
            // bf16: the tiled kernel keeps P in f32 where the full one rounds it to bf16; both stay
            // within the bf16 tolerance of the reference.
            const auto bf16 = logits_with(dir, runtime::AttentionKernel::Tiled, Precision::BF16).first;
            float bf16_error = 0;
            for (size_t i = 0; i < bf16.size(); ++i) bf16_error = std::max(bf16_error, std::abs(bf16[i] - expected[i]));
            INFO("max |tiled bf16 - reference| = " << bf16_error);
            CHECK(bf16_error <= 0.15f);
            CHECK(bf16_error > 0);
        }
    }
}
