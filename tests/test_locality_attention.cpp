// Locality self-attention (Lee, Lee and Song 2021, LSA), vitc's opt-in extension of the ViT:
// per head a learned temperature exp(t_h) instead of 1/sqrt(d_head), and no token attends to
// itself. The training forward and backward are checked against PyTorch's float64 reference in
// test_train_gradients.cpp (fixture tests/data/train/p2_mean_sincos_shifted_lsa); the tiled
// kernel's mask against a naive reference in test_tiled_attention.cpp. Here:
//   - inference on that fixture's weights gives PyTorch's logits, with either attention kernel
//     (the temperatures are folded into the query weights at load);
//   - the attention probabilities explanations read have an empty diagonal;
//   - configs and weights that do not fit are refused with the reason.
#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>
#include <vector>

#include <nlohmann/json.hpp>

#include "io/model_directory.hpp"
#include "io/safetensors.hpp"
#include "models/model.hpp"
#include "models/probes.hpp"
#include "runtime/attention_kernel.hpp"
#include "fixture_model.hpp"
#include "test_helpers.hpp"
#include "train/model_export.hpp"
#include "train/safetensors_writer.hpp"
#include "train/vit_train.hpp"

using namespace vitc;
namespace fs = std::filesystem;

namespace {

const std::string kFixture = std::string(VITC_TEST_DATA_DIR) + "/train/p2_mean_sincos_shifted_lsa";

std::string fixture_model_directory(const test::TempDir& tmp, const std::string& name,
                                    const nlohmann::json& config_changes = nlohmann::json::object()) {
    return test::fixture_model_directory(tmp, name, kFixture, config_changes);
}
using test::load_error;

struct KernelChoice {  // sets the process-wide attention kernel for one scope
    runtime::AttentionKernel saved = runtime::attention_kernel();
    explicit KernelChoice(runtime::AttentionKernel k) { runtime::set_attention_kernel(k); }
    ~KernelChoice() { runtime::set_attention_kernel(saved); }
};

}  // namespace

TEST_CASE("Locality self-attention: vitc's inference gives PyTorch's logits on the training fixture", "[vit][lsa]") {
    test::TempDir tmp;
    const std::string dir = fixture_model_directory(tmp, "lsa");
    const SafetensorsFile file = SafetensorsFile::open(kFixture + "/fixture.safetensors");
    const std::vector<float> input = file.read_f32("input"), expected = file.read_f32("logits");
    const std::vector<int64_t>& shape = file.info("input").shape;
    for (runtime::AttentionKernel kernel : {runtime::AttentionKernel::Full, runtime::AttentionKernel::Tiled}) {
        INFO(runtime::attention_kernel_name(kernel) << " attention");
        KernelChoice choice(kernel);
        const auto model = load_model(dir);
        CHECK(model->summary().architecture.find("locality self-attention") != std::string::npos);
        // The log-temperatures count among the parameters, as the training layout has them.
        const train::ViTArchitecture arch = train::read_architecture(config_path(dir));
        const train::ParameterLayout layout = train::vit_parameter_layout(arch);
        int64_t parameters = 0;
        for (const train::ParameterTensor& t : layout.tensors()) parameters += t.numel;
        CHECK(model->summary().parameters == parameters);
        std::vector<float> logits(expected.size());
        model->create_session(static_cast<int>(shape[0]), static_cast<int>(shape[2]), static_cast<int>(shape[3]))
            ->run(input.data(), logits.data());
        for (size_t i = 0; i < logits.size(); ++i) CHECK(logits[i] == Approx(expected[i]).margin(1e-4));
    }
}

TEST_CASE("Locality self-attention: no token attends to itself in the probabilities explanations read", "[vit][lsa]") {
    test::TempDir tmp;
    KernelChoice choice(runtime::AttentionKernel::Full);
    const auto model = load_model(fixture_model_directory(tmp, "lsa"));
    const SafetensorsFile file = SafetensorsFile::open(kFixture + "/fixture.safetensors");
    const std::vector<float> input = file.read_f32("input");
    const std::vector<int64_t>& shape = file.info("input").shape;
    auto session = model->create_session(static_cast<int>(shape[0]), static_cast<int>(shape[2]), static_cast<int>(shape[3]));
    auto* probe = dynamic_cast<AttentionProbe*>(session.get());
    REQUIRE(probe);
    int layers = 0;
    probe->observe_attention([&](int, const dnnl::memory& probabilities) {
        ++layers;
        const auto dims = probabilities.get_desc().dims();  // [N, H, T, T], f32 in f32 mode
        const float* p = static_cast<const float*>(probabilities.get_data_handle());
        const int64_t T = dims[3];
        for (int64_t m = 0; m < dims[0] * dims[1]; ++m)
            for (int64_t i = 0; i < T; ++i) {
                double row = 0;
                for (int64_t j = 0; j < T; ++j) row += p[(m * T + i) * T + j];
                CHECK(p[(m * T + i) * T + i] == 0.0f);
                CHECK(row == Approx(1.0).margin(1e-5));
            }
    });
    std::vector<float> logits(shape[0] * 3);
    session->run(input.data(), logits.data());
    CHECK(layers == 2);
}

TEST_CASE("Locality self-attention: configs and weights that do not fit are refused with the reason", "[vit][lsa]") {
    test::TempDir tmp;
    // Weights with log-temperatures under a config without the flag: the field is named.
    CHECK_THAT(load_error(fixture_model_directory(tmp, "plain", {{"locality_self_attention", false}})),
               Catch::Contains("must say \"locality_self_attention\": true"));
    CHECK_THAT(load_error(fixture_model_directory(tmp, "not_bool", {{"locality_self_attention", 1}})),
               Catch::Contains("'locality_self_attention' must be true or false"));
    // The flag on weights that have no log-temperatures.
    const std::string hf = tmp.file("hf");
    fs::copy(std::string(VITC_TEST_DATA_DIR) + "/vit/p4_rgb_mean_hf", hf);
    nlohmann::json config = read_json_file(config_path(hf));
    config["locality_self_attention"] = true;
    test::write_file(config_path(hf), config.dump());
    CHECK_THAT(load_error(hf), Catch::Contains("stored in timm's names"));
    // A log-temperature that would overflow the scores.
    {
        const std::string dir = fixture_model_directory(tmp, "hot");
        const SafetensorsFile file = SafetensorsFile::open(kFixture + "/fixture.safetensors");
        std::vector<std::vector<float>> values;  // kept alive: TensorToWrite points into them
        std::vector<train::TensorToWrite> tensors;
        for (const auto& [name, info] : file.tensors()) values.push_back(file.read_f32(name));
        size_t i = 0;
        for (const auto& [name, info] : file.tensors()) {
            if (name == "blocks.1.attn.log_temperature") values[i][1] = 100.0f;
            tensors.push_back({name, info.shape, values[i].data()});
            ++i;
        }
        fs::remove(weights_path(dir));
        train::write_safetensors(weights_path(dir), tensors);
        CHECK_THAT(load_error(dir), Catch::Contains("blocks.1.attn.log_temperature") && Catch::Contains("[-30, 30]"));
    }
    // One token (a 2x2 image in 2-pixel patches, no class token): nothing left to attend to.
    train::ViTArchitecture arch = train::read_architecture(kFixture + "/config.json");
    arch.config.image_height = arch.config.image_width = 2;
    CHECK_THROWS_WITH(train::check_architecture(arch), Catch::Contains("at least 2 tokens"));
    const auto model = load_model(fixture_model_directory(tmp, "lsa"));
    CHECK_THROWS_WITH(model->create_session(1, 2, 2), Catch::Contains("at least 2 tokens"));
}

TEST_CASE("Locality self-attention: the written config names it only when set", "[vit][lsa]") {
    // A checkpoint records this JSON and --resume compares it key by key: checkpoints written
    // before the field existed must still resume.
    train::ViTArchitecture arch = train::read_architecture(kFixture + "/config.json");
    CHECK(arch.config.locality_attention);
    CHECK(train::vit_config_json(arch).at("locality_self_attention") == true);
    arch.config.locality_attention = false;
    CHECK_FALSE(train::vit_config_json(arch).contains("locality_self_attention"));
}

TEST_CASE("Locality self-attention: fresh weights start as plain attention", "[vit][lsa]") {
    // log-temperature log(1/sqrt(Dh)), so exp(t) is the usual 1/sqrt(Dh) scale at step 0.
    const train::ViTArchitecture arch = train::read_architecture(kFixture + "/config.json");
    const train::ParameterLayout layout = train::vit_parameter_layout(arch);
    std::vector<float> buffer(layout.size());
    train::init_vit_parameters(arch, layout, buffer.data(), 7);
    const train::ViTParameters p = train::vit_parameter_views(arch, layout, buffer.data());
    const int head_dim = arch.config.hidden_size / arch.config.num_heads;
    for (const train::ViTBlockParameters& b : p.blocks) {
        REQUIRE(b.log_temperature);
        for (int h = 0; h < arch.config.num_heads; ++h)
            CHECK(std::exp(b.log_temperature[h]) == Approx(1.0 / std::sqrt(head_dim)));
    }
}
