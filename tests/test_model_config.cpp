// config.json / preprocessor_config.json parsing, and a model directory's consistency checks.
#include <catch2/catch.hpp>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "errors.hpp"
#include "io/model_config.hpp"
#include "models/model.hpp"
#include "test_helpers.hpp"

using namespace vitc;
using nlohmann::json;
namespace fs = std::filesystem;

TEST_CASE("config: Hugging Face ViTConfig fields", "[config]") {
    const json j = json::parse(R"({"hidden_size":768,"num_hidden_layers":12,"num_attention_heads":12,
        "intermediate_size":3072,"hidden_act":"gelu","image_size":224,"patch_size":16,"num_channels":3,
        "id2label":{"1":"dog","0":"cat"}})");
    const ViTConfig c = parse_vit_config(j, "config.json");
    CHECK(c.hidden_size == 768);
    CHECK(c.num_layers == 12);
    CHECK(c.num_heads == 12);
    CHECK(c.image_height == 224);
    CHECK(c.image_width == 224);
    CHECK(c.layer_norm_eps == 0);  // absent: the weight scheme's default applies
    CHECK(c.labels == std::vector<std::string>{"cat", "dog"});
    CHECK(c.pooling == Pooling::Cls);
}

TEST_CASE("config: timm hub config", "[config]") {
    const json j = json::parse(R"({"architecture":"vit_small_patch16_224","num_classes":3,"num_features":384,
        "global_pool":"avg","pretrained_cfg":{"input_size":[3,224,224],"mean":[0.1,0.2,0.3],"std":[0.4,0.5,0.6],
        "crop_pct":0.9,"interpolation":"bicubic"}})");
    const ViTConfig c = parse_vit_config(j, "config.json");
    CHECK(c.hidden_size == 384);
    CHECK(c.pooling == Pooling::Mean);
    CHECK(c.image_height == 224);
    CHECK(c.num_channels == 3);
    CHECK(c.labels.size() == 3);
    const Preprocessing p = parse_timm_pretrained_cfg(j, "config.json", c);
    CHECK(p.resize == Preprocessing::Resize::ShortestEdge);
    CHECK(p.shortest_edge == 248);  // floor(224 / 0.9)
    CHECK(p.crop_height == 224);
    CHECK(p.interpolation == Interpolation::Bicubic);
    CHECK(p.mean == std::vector<float>{0.1f, 0.2f, 0.3f});
}

TEST_CASE("config: wrong types and ranges are refused naming the field", "[config][errors]") {
    CHECK_THROWS_WITH(parse_vit_config(json::parse(R"({"hidden_size":"768"})"), "c.json"),
                      Catch::Contains("c.json") && Catch::Contains("'hidden_size' must be an integer"));
    CHECK_THROWS_WITH(parse_vit_config(json::parse(R"({"hidden_size":-1})"), "c.json"), Catch::Contains("outside"));
    CHECK_THROWS_WITH(parse_vit_config(json::parse(R"({"hidden_act":"relu"})"), "c.json"), Catch::Contains("hidden_act"));
    CHECK_THROWS_WITH(parse_vit_config(json::parse(R"({"id2label":{"0":"a","5":"b"}})"), "c.json"),
                      Catch::Contains("id2label key '5'"));
    CHECK_THROWS_WITH(parse_vit_config(json::parse(R"([1])"), "c.json"), Catch::Contains("JSON object"));
    ViTConfig gray;
    gray.num_channels = 1;  // a float field beyond float's range would be undefined behaviour when narrowed
    CHECK_THROWS_WITH(parse_preprocessor_config(json::parse(R"({"image_mean":[1e300]})"), "p.json", gray),
                      Catch::Contains("out of range"));
    CHECK_THROWS_WITH(parse_vit_config(json::parse(R"({"layer_norm_eps":1e300})"), "c.json"), Catch::Contains("out of range"));
}

TEST_CASE("preprocessor config: size, resample, mean/std", "[config]") {
    ViTConfig model;
    model.image_height = model.image_width = 28;
    model.num_channels = 1;
    const Preprocessing p = parse_preprocessor_config(
        json::parse(R"({"size":{"height":32,"width":30},"resample":3,"image_mean":[0.25],"image_std":[0.5]})"), "p.json", model);
    CHECK(p.output_height() == 32);
    CHECK(p.output_width() == 30);
    CHECK(p.interpolation == Interpolation::Bicubic);
    CHECK(p.mean == std::vector<float>{0.25f});
    CHECK_THROWS_WITH(parse_preprocessor_config(json::parse(R"({"image_std":[0]})"), "p.json", model),
                      Catch::Contains("positive"));
    CHECK_THROWS_WITH(parse_preprocessor_config(json::parse(R"({"image_mean":[0.1,0.2,0.3]})"), "p.json", model),
                      Catch::Contains("for 1 channels"));
}

namespace {

// A copy of a fixture model directory whose config.json is edited by `edit`.
std::string load_error_with_config(const std::function<void(json&)>& edit, const test::TempDir& dir) {
    const fs::path source = fs::path(VITC_TEST_DATA_DIR) / "vit" / "p4_rgb_mean_hf";
    fs::copy(source / "model.safetensors", dir.path / "model.safetensors");
    json config = read_json_file((source / "config.json").string());
    edit(config);
    test::write_file(dir.file("config.json"), config.dump());
    try {
        load_model(dir.path.string());
    } catch (const ModelError& e) {
        return e.what();
    }
    return "";
}

}  // namespace

TEST_CASE("model directory: config inconsistent with the weights", "[config][errors]") {
    {
        test::TempDir dir;
        CHECK_THAT(load_error_with_config([](json& c) { c["hidden_size"] = 64; }, dir),
                   Catch::Contains("hidden_size = 64") && Catch::Contains("weights have 32"));
    }
    {
        test::TempDir dir;
        CHECK_THAT(load_error_with_config([](json& c) { c["num_attention_heads"] = 5; }, dir), Catch::Contains("divisible"));
    }
    {
        test::TempDir dir;
        CHECK_THAT(load_error_with_config([](json& c) { c["num_hidden_layers"] = 3; }, dir), Catch::Contains("2 blocks"));
    }
    {
        test::TempDir dir;
        CHECK_THAT(load_error_with_config([](json& c) { c["id2label"] = {{"0", "a"}, {"1", "b"}}; }, dir),
                   Catch::Contains("2 labels") && Catch::Contains("5 rows"));
    }
    {
        test::TempDir dir;
        CHECK_THAT(load_error_with_config([](json& c) { c["image_size"] = 20; }, dir), Catch::Contains("patch positions"));
    }
    {
        test::TempDir dir;
        CHECK(load_error_with_config([](json&) {}, dir).empty());
    }
    CHECK_THROWS_WITH(load_model("/nonexistent-model"), Catch::Contains("not a model directory"));
}
