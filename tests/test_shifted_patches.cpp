// Shifted patch tokens (image/shifted_patches.hpp), vitc's opt-in extension of the ViT:
//   - the stack of shifted copies, on a 4x4 image whose expected copies are written out by hand;
//   - inference on the PyTorch training fixture's weights (tests/data/train/p4_cls_learned_shifted,
//     scripts/make_train_fixtures.py) gives PyTorch's float64 logits within 1e-4 (the training
//     forward and backward are checked against the same fixture in test_train_gradients.cpp);
//   - configs and weights that do not fit are refused with the reason.
#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>
#include <vector>

#include <nlohmann/json.hpp>

#include "errors.hpp"
#include "image/shifted_patches.hpp"
#include "io/model_directory.hpp"
#include "io/safetensors.hpp"
#include "models/model.hpp"
#include "fixture_model.hpp"
#include "test_helpers.hpp"
#include "train/model_export.hpp"
#include "train/vit_train.hpp"

using namespace vitc;
namespace fs = std::filesystem;

namespace {

const std::string kTrainData = std::string(VITC_TEST_DATA_DIR) + "/train/";
const std::string kFixture = kTrainData + "p4_cls_learned_shifted";

// The fixture as a model directory (tests/fixture_model.hpp), with config changes.
std::string fixture_model_directory(const test::TempDir& tmp, const std::string& name,
                                    const nlohmann::json& config_changes = nlohmann::json::object(),
                                    const std::string& fixture = kFixture) {
    return test::fixture_model_directory(tmp, name, fixture, config_changes);
}
using test::load_error;

}  // namespace

TEST_CASE("Shifted copies: the image moved by half a patch along each diagonal, zero outside", "[vit][shifted]") {
    // 1 channel, 4x4, shift 1: copy (dy, dx) holds image(y + dy, x + dx).
    const std::vector<float> image = {1, 2, 3, 4,  //
                                      5, 6, 7, 8,  //
                                      9, 10, 11, 12,  //
                                      13, 14, 15, 16};
    const std::vector<float> up_left = {0, 0, 0, 0, 0, 1, 2, 3, 0, 5, 6, 7, 0, 9, 10, 11};        // (-1, -1)
    const std::vector<float> up_right = {0, 0, 0, 0, 2, 3, 4, 0, 6, 7, 8, 0, 10, 11, 12, 0};      // (-1, +1)
    const std::vector<float> down_left = {0, 5, 6, 7, 0, 9, 10, 11, 0, 13, 14, 15, 0, 0, 0, 0};   // (+1, -1)
    const std::vector<float> down_right = {6, 7, 8, 0, 10, 11, 12, 0, 14, 15, 16, 0, 0, 0, 0, 0};  // (+1, +1)
    std::vector<float> stack(5 * 16, -1.0f);
    stack_shifted_copies(image.data(), 1, 4, 4, 1, stack.data());
    CHECK(std::vector<float>(stack.begin(), stack.begin() + 16) == image);
    CHECK(std::vector<float>(stack.begin() + 16, stack.begin() + 32) == up_left);
    CHECK(std::vector<float>(stack.begin() + 32, stack.begin() + 48) == up_right);
    CHECK(std::vector<float>(stack.begin() + 48, stack.begin() + 64) == down_left);
    CHECK(std::vector<float>(stack.begin() + 64, stack.begin() + 80) == down_right);

    // Two channels: each copy holds both channels, copy-major (channel k*C + c).
    std::vector<float> two(2 * 16);
    for (int i = 0; i < 16; ++i) two[i] = image[i], two[16 + i] = -image[i];
    std::vector<float> stack2(5 * 2 * 16);
    stack_shifted_copies(two.data(), 2, 4, 4, 1, stack2.data());
    for (int i = 0; i < 16; ++i) {
        CHECK(stack2[2 * 16 + i] == up_left[i]);
        CHECK(stack2[3 * 16 + i] == -up_left[i]);
        CHECK(stack2[9 * 16 + i] == -down_right[i]);
    }
    CHECK(patch_vector_size(2, 4, true) == 5 * 2 * 16);
    CHECK(patch_vector_size(2, 4, false) == 2 * 16);
}

TEST_CASE("Shifted patch tokens: vitc's inference gives PyTorch's logits on the training fixture", "[vit][shifted]") {
    test::TempDir tmp;
    // p1_mean_sincos (no class token, fixed positions) alongside: its absent tensors count 0 parameters.
    for (const std::string fixture : {kFixture, kTrainData + "p1_mean_sincos"}) {
        INFO(fixture);
        const std::string dir = fixture_model_directory(tmp, fs::path(fixture).filename(), nlohmann::json::object(), fixture);
        const SafetensorsFile file = SafetensorsFile::open(fixture + "/fixture.safetensors");
        const std::vector<float> input = file.read_f32("input"), expected = file.read_f32("logits");
        const TensorInfo& shape = file.info("input");
        const auto model = load_model(dir);
        CHECK((model->summary().architecture.find("shifted patch tokens") != std::string::npos) == (fixture == kFixture));
        // The patch LayerNorm's weight and bias count among the parameters, as the training layout has them.
        train::ViTArchitecture arch = train::read_architecture(config_path(dir));
        const train::ParameterLayout layout = train::vit_parameter_layout(arch);  // tensors() refers into it
        int64_t parameters = 0;
        for (const train::ParameterTensor& t : layout.tensors()) parameters += t.numel;
        CHECK(model->summary().parameters == parameters);
        std::vector<float> logits(expected.size());
        model->create_session(static_cast<int>(shape.shape[0]), static_cast<int>(shape.shape[2]),
                              static_cast<int>(shape.shape[3]))
            ->run(input.data(), logits.data());
        for (size_t i = 0; i < logits.size(); ++i) CHECK(logits[i] == Approx(expected[i]).margin(1e-4));
    }
}

TEST_CASE("Shifted patch tokens: configs and weights that do not fit are refused with the reason", "[vit][shifted]") {
    test::TempDir tmp;
    // Without the flag: the patch LayerNorm's tensors name what is missing.
    CHECK_THAT(load_error(fixture_model_directory(tmp, "plain", {{"shifted_patch_tokens", false}})),
               Catch::Contains("must say \"shifted_patch_tokens\": true"));
    CHECK_THAT(load_error(fixture_model_directory(tmp, "not_bool", {{"shifted_patch_tokens", "yes"}})),
               Catch::Contains("'shifted_patch_tokens' must be true or false"));
    // A plain Hugging Face ViT (3 channels) marked shifted: its embedding is not 5 copies wide.
    const std::string hf = tmp.file("hf");
    fs::copy(std::string(VITC_TEST_DATA_DIR) + "/vit/p4_rgb_mean_hf", hf);
    nlohmann::json config = read_json_file(config_path(hf));
    config["shifted_patch_tokens"] = true;
    test::write_file(config_path(hf), config.dump());
    CHECK_THAT(load_error(hf), Catch::Contains("for shifted patch tokens"));
    // Training: a shift of half a 1-pixel patch is no shift.
    train::ViTArchitecture arch = train::read_architecture(kFixture + "/config.json");
    arch.config.patch_size = 1;
    CHECK_THROWS_WITH(train::check_architecture(arch), Catch::Contains("at least 2 pixels"));
}

TEST_CASE("Shifted patch tokens: a plain ViT's written config (and checkpoint architecture) does not name them", "[vit][shifted]") {
    // A checkpoint records this JSON and --resume compares it key by key: checkpoints written
    // before the field existed must still resume.
    train::ViTArchitecture arch = train::read_architecture(kFixture + "/config.json");
    CHECK(train::vit_config_json(arch).at("shifted_patch_tokens") == true);
    arch.config.shifted_patches = false;
    CHECK_FALSE(train::vit_config_json(arch).contains("shifted_patch_tokens"));
}
