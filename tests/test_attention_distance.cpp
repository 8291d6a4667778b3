// Mean attention distance (ViT paper, Figure 7): hand-checked grids, the ViT fixtures against a
// PyTorch float64 reference (scripts/make_attention_distance_fixture.py), and the CNN receptive
// field recurrence on ResNet layouts with known fields.
#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "explain/attention_distance.hpp"
#include "explain/explainer.hpp"
#include "io/safetensors.hpp"
#include "models/model.hpp"
#include "models/resnet.hpp"
#include "models/vit.hpp"

namespace fs = std::filesystem;
using namespace vitc;

namespace {

// Every row of `heads` heads attends uniformly to all T tokens.
std::vector<float> uniform_attention(int64_t heads, int64_t tokens) {
    return std::vector<float>(heads * tokens * tokens, 1.0f / static_cast<float>(tokens));
}

}  // namespace

TEST_CASE("attention distance: uniform attention over a 2x2 grid, by hand", "[explain][attention-distance]") {
    // Patch 4: from any patch, the others lie 4, 4 and 4 sqrt(2) pixels away, itself 0.
    const double P = 4, around = (0 + P + P + P * std::sqrt(2.0));
    SECTION("no class token: rows spread over the 4 patches") {
        const PatchGrid grid{2, 2, 4, 0};
        const std::vector<double> d = mean_attention_distance(uniform_attention(3, 4), 3, grid);
        REQUIRE(d.size() == 3);
        for (double v : d) CHECK(v == Approx(around / 4));  // 3.4142
        CHECK(class_token_share(uniform_attention(3, 4), 3, grid) == std::vector<double>(3, 0.0));
        CHECK(uniform_window_distance(grid, 0) == Approx(around / 4));
    }
    SECTION("a class token: 1/5 of each row on it, not renormalised away") {
        const PatchGrid grid{2, 2, 4, 1};
        const std::vector<double> d = mean_attention_distance(uniform_attention(2, 5), 2, grid);
        for (double v : d) CHECK(v == Approx(around / 5));  // 2.7314: the class token's fifth counts as 0
        for (double v : class_token_share(uniform_attention(2, 5), 2, grid)) CHECK(v == Approx(0.2));
    }
    SECTION("each patch on itself: distance 0; each on the opposite corner: 4 sqrt(2)") {
        const PatchGrid grid{2, 2, 4, 0};
        std::vector<float> attention(2 * 16, 0.0f);
        for (int i = 0; i < 4; ++i) {
            attention[i * 4 + i] = 1.0f;            // head 0: itself
            attention[16 + i * 4 + (3 - i)] = 1.0f;  // head 1: patch 3 - i, diagonally opposite
        }
        const std::vector<double> d = mean_attention_distance(attention, 2, grid);
        CHECK(d[0] == Approx(0.0).margin(1e-12));
        CHECK(d[1] == Approx(4 * std::sqrt(2.0)));
    }
    SECTION("a window: within one patch only itself, within three its 8 neighbours too") {
        const PatchGrid grid{3, 3, 2, 0};  // patch 2, centres 2 px apart
        CHECK(uniform_window_distance(grid, 3) == Approx(0.0).margin(1e-12));
        // Window 4 px: the centre patch sees all 9 (4 at 2, 4 at 2 sqrt 2); a corner sees 4; an edge 6.
        const double s = 2 * std::sqrt(2.0);
        const double centre = (4 * 2 + 4 * s) / 9, corner = (2 * 2 + s) / 4, edge = (3 * 2 + 2 * s) / 6;
        CHECK(uniform_window_distance(grid, 4) == Approx((centre + 4 * corner + 4 * edge) / 9));
    }
    CHECK_THROWS_WITH(mean_attention_distance(std::vector<float>(10), 1, PatchGrid{2, 2, 4, 0}),
                      Catch::Contains("expected 1 heads x 4 x 4 tokens"));
}

TEST_CASE("attention distance of the ViT fixtures matches the PyTorch reference", "[explain][attention-distance]") {
    const fs::path data(VITC_TEST_DATA_DIR);
    std::ifstream file(data / "attention_distance" / "expected.json");
    REQUIRE(file);
    const nlohmann::json expected = nlohmann::json::parse(file);
    for (const auto& [name, reference] : expected.at("cases").items()) {
        DYNAMIC_SECTION(name) {
            const auto model = load_model((data / "vit" / name).string());
            const auto* vit = dynamic_cast<const ViTModel*>(model.get());
            REQUIRE(vit);
            const PatchGrid grid = patch_grid(*vit);
            CHECK(grid.height == reference.at("grid")[0].get<int64_t>());
            CHECK(grid.prefix == 1);
            const auto io = SafetensorsFile::open((data / "vit" / name / "io.safetensors").string());
            const std::vector<float> inputs = io.read_f32("input");
            const int64_t images = reference.at("images").get<int64_t>();
            const size_t per_image = inputs.size() / static_cast<size_t>(images);
            Explainer explainer(*model);
            AttentionDistanceMeter meter(explainer.layers(), explainer.heads(), grid);
            for (int64_t n = 0; n < images; ++n) {
                explainer.explain(inputs.data() + n * per_image);
                meter.add(explainer.attention());
            }
            const auto distance = meter.distance(), share = meter.class_token_share();
            REQUIRE(distance.size() == reference.at("distance").size());
            for (size_t l = 0; l < distance.size(); ++l)
                for (size_t h = 0; h < distance[l].size(); ++h) {
                    INFO("layer " << l << " head " << h);
                    CHECK(distance[l][h] == Approx(reference["distance"][l][h].get<double>()).epsilon(1e-4));
                    CHECK(share[l][h] == Approx(reference["class_token_share"][l][h].get<double>()).margin(1e-5));
                }
        }
    }
}

TEST_CASE("CNN receptive field: r += (k-1) jump, jump *= stride, on known ResNet layouts", "[explain][attention-distance]") {
    const fs::path data = fs::path(VITC_TEST_DATA_DIR) / "cnn";
    const auto stage_ends = [](const std::vector<ReceptiveField>& fields) {
        std::vector<int64_t> ends;
        for (const ReceptiveField& f : fields)
            if (f.stage_end) ends.push_back(f.size);
        return ends;
    };
    SECTION("small stem, one basic block per stage (as the resnet preset)") {
        // conv 3x3/1: 3; layer1 +2 +2: 7; layer2 +2 (then jump 2) +4: 13; layer3 +4 +8: 25; layer4 +8 +16: 49.
        const auto model = load_model((data / "small_stem_rgb").string());
        const auto fields = receptive_fields(dynamic_cast<const ResNetModel&>(*model));
        CHECK(fields.size() == 9);
        CHECK(stage_ends(fields) == std::vector<int64_t>{3, 7, 13, 25, 49});
        CHECK(fields.back().jump == 8);
        CHECK(fields[3].layer == "layer2.0.conv1");
        CHECK(fields[3].stage == "layer2");
    }
    SECTION("ResNet-18 layout: the published 435 pixels") {
        // 7x7/2: 7; maxpool 3/2: 11 (jump 4); layer1 4 x 8: 43; layer2 8 + 3 x 16: 99; layer3: 211; layer4: 435.
        const auto model = load_model((data / "resnet18_layout_gray").string());
        const auto fields = receptive_fields(dynamic_cast<const ResNetModel&>(*model));
        CHECK(stage_ends(fields) == std::vector<int64_t>{11, 43, 99, 211, 435});
        CHECK(fields[1].layer == "maxpool");
    }
    SECTION("ResNet-50 layout (v1.5, stride on the 3x3): 427 pixels, 1x1 convolutions add nothing") {
        const auto model = load_model((data / "resnet50_layout_rgb").string());
        const auto fields = receptive_fields(dynamic_cast<const ResNetModel&>(*model));
        CHECK(fields.size() == 2 + 16 * 3);
        CHECK(stage_ends(fields) == std::vector<int64_t>{11, 35, 91, 267, 427});
    }
}

TEST_CASE("attention distance report: JSON table and plot", "[explain][attention-distance]") {
    AttentionDistanceReport r;
    r.vit = "vit";
    r.grid = {7, 7, 4, 1};
    r.image_height = r.image_width = 28;
    r.images = {"a.png", "b.png"};
    r.distance = {{2, 3}, {10, 12}};
    r.class_token_share = {{0.1, 0.2}, {0.3, 0.4}};
    r.uniform_distance = uniform_window_distance(r.grid, 0);
    const nlohmann::json without_cnn = to_json(r);
    CHECK(without_cnn.at("renormalised") == false);
    CHECK(without_cnn.at("blocks")[1].at("mean_distance").get<double>() == Approx(11));
    CHECK(without_cnn.at("vit").at("heads") == 2);
    CHECK_FALSE(without_cnn.contains("cnn"));
    r.cnn = "cnn";
    r.cnn_fields = {{"stem", "conv1", 3, 1, true}, {"layer1", "layer1.0.conv1", 5, 1, false}};
    r.cnn_uniform_distance = {0, 1.5};
    const nlohmann::json with_cnn = to_json(r);
    CHECK(with_cnn.at("cnn").at("layers")[1].at("receptive_field") == 5);
    CHECK(with_cnn.at("cnn").at("layers")[1].at("depth") == 2);
    const cv::Mat plot = attention_distance_plot(r);
    CHECK(plot.cols == 900);
    CHECK(plot.type() == CV_8UC3);
}
