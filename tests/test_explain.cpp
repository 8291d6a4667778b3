// Explanations: class activation maps and attention rollout on hand-checked cases, the pictures
// and their base64 encoding, and the explainer on fixture models.
#include <catch2/catch.hpp>
#include <filesystem>

#include "explain/cam.hpp"
#include "explain/data_uri.hpp"
#include "explain/explainer.hpp"
#include "explain/heatmap.hpp"
#include "explain/rollout.hpp"
#include "models/model.hpp"

namespace fs = std::filesystem;
using namespace vitc;

TEST_CASE("class activation map: the class's weighted sum of feature maps", "[explain]") {
    // F = 2 features on a 2x2 map; class weights (1, -2).
    const std::vector<float> features = {1, 2, 3, 4,    // feature 0
                                         0, 1, 0, 2};   // feature 1
    const std::vector<float> weights = {1, -2};
    const std::vector<float> cam = class_activation_map(features.data(), 2, 2, 2, weights.data());
    CHECK(cam == std::vector<float>{1, 0, 3, 0});  // 1-0, 2-2, 3-0, 4-4
    CHECK(min_max_normalized(cam) == std::vector<float>{1.0f / 3, 0, 1, 0});
    CHECK(min_max_normalized({5, 5, 5}) == std::vector<float>{0, 0, 0});  // constant: no evidence anywhere
}

TEST_CASE("attention rollout: identity attention keeps every token to itself", "[explain]") {
    // T = 5 (class token + 2x2 patches), 2 heads, 3 layers of identity attention: Â = I, R = I,
    // so the class token draws nothing from any patch: the patch map is all zero (and stays
    // zero after min-max normalisation).
    const int64_t T = 5, H = 2;
    std::vector<float> identity(H * T * T, 0.0f);
    for (int64_t h = 0; h < H; ++h)
        for (int64_t i = 0; i < T; ++i) identity[h * T * T + i * T + i] = 1.0f;
    const auto rollout = attention_rollout({identity, identity, identity}, H, T);
    for (int64_t i = 0; i < T; ++i)
        for (int64_t j = 0; j < T; ++j) CHECK(rollout[i * T + j] == Approx(i == j ? 1.0 : 0.0));
    const auto map = patch_relevance(rollout, T, 1);
    CHECK(map == std::vector<float>(4, 0.0f));
    CHECK(min_max_normalized(map) == std::vector<float>(4, 0.0f));
}

TEST_CASE("attention rollout: two layers by hand", "[explain]") {
    // T = 3 (class token, patches p1, p2), 2 heads: head 0 the identity, head 1 every row on p1.
    //   mean of heads A = [.5 .5 0; 0 1 0; 0 .5 .5];  Â = (A + I) / 2 = [.75 .25 0; 0 1 0; 0 .25 .75]
    //   one layer:  class row over patches = (.25, 0)
    //   two layers: row 0 of Â Â = .75 * (.75, .25, 0) + .25 * (0, 1, 0) = (.5625, .4375, 0)
    const int64_t T = 3, H = 2;
    const std::vector<float> layer = {1, 0, 0, 0, 1, 0, 0, 0, 1,   // head 0
                                      0, 1, 0, 0, 1, 0, 0, 1, 0};  // head 1
    const auto one = patch_relevance(attention_rollout({layer}, H, T), T, 1);
    CHECK(one[0] == Approx(0.25));
    CHECK(one[1] == Approx(0.0).margin(1e-7));
    const auto two = attention_rollout({layer, layer}, H, T);
    CHECK(two[0] == Approx(0.5625));
    CHECK(two[1] == Approx(0.4375));
    CHECK(two[2] == Approx(0.0).margin(1e-7));
    // Without a class token the pooled token is the mean of all rows: columns of Â Â averaged.
    //   Â Â rows: (.5625 .4375 0), (0 1 0), (0 .4375 .5625) -> column means over the patch columns
    //   (the prefix is 0, so every column is a patch): (.1875, .625, .1875)
    const auto mean_pool = patch_relevance(two, T, 0);
    CHECK(mean_pool[0] == Approx(0.1875));
    CHECK(mean_pool[1] == Approx(0.625));
    CHECK(mean_pool[2] == Approx(0.1875));
    // Head averaging alone.
    CHECK(head_average(layer, H, T) == std::vector<float>{0.5f, 0.5f, 0, 0, 1, 0, 0, 0.5f, 0.5f});
}

TEST_CASE("base64 of RFC 4648's test vectors", "[explain]") {
    const auto b64 = [](const std::string& s) { return base64_encode(std::vector<unsigned char>(s.begin(), s.end())); };
    CHECK(b64("") == "");
    CHECK(b64("f") == "Zg==");
    CHECK(b64("fo") == "Zm8=");
    CHECK(b64("foo") == "Zm9v");
    CHECK(b64("foob") == "Zm9vYg==");
    CHECK(b64("fooba") == "Zm9vYmE=");
    CHECK(b64("foobar") == "Zm9vYmFy");
    CHECK(base64_encode({0xff, 0xfe, 0x00}) == "//4A");
}

TEST_CASE("heat map overlay: red where the map is 1, blue where it is 0", "[explain]") {
    const cv::Mat gray(8, 8, CV_8UC3, cv::Scalar(128, 128, 128));
    const cv::Mat out = overlay_heatmap(gray, {0, 1}, 1, 2);  // left half 0, right half 1
    REQUIRE(out.size() == gray.size());
    const cv::Vec3b left = out.at<cv::Vec3b>(4, 0), right = out.at<cv::Vec3b>(4, 7);
    CHECK(left[0] > left[2]);    // BGR: blue dominates on the left
    CHECK(right[2] > right[0]);  // red on the right
    const std::string uri = png_data_uri(out);
    CHECK(uri.rfind("data:image/png;base64,iVBORw0KGgo", 0) == 0);  // the PNG signature
}

TEST_CASE("explainer: a rollout over the patch grid for a ViT, a CAM over the feature map for a CNN", "[explain]") {
    SECTION("ViT, patch 4 on 12x12: a 3x3 grid") {
        const auto model = load_model((fs::path(VITC_TEST_DATA_DIR) / "vit" / "p4_gray_cls_hf_bf16").string());
        Explainer explainer(*model);
        const int h = model->preprocessing().output_height(), w = model->preprocessing().output_width();
        std::vector<float> input(static_cast<size_t>(model->num_channels()) * h * w, 0.25f);
        const ExplainedImage e = explainer.explain(input.data(), 0);
        REQUIRE(e.explanations.size() == 2);
        CHECK(e.explanations[0].height == h / 4);
        CHECK(e.explanations[0].width == w / 4);
        CHECK(e.explanations[1].method == "layer 0 attention");
        for (const Explanation& x : e.explanations) {
            REQUIRE(x.map.size() == static_cast<size_t>(x.height * x.width));
            CHECK(*std::max_element(x.map.begin(), x.map.end()) <= 1.0f);
            CHECK(*std::min_element(x.map.begin(), x.map.end()) >= 0.0f);
        }
        CHECK_THROWS_WITH(explainer.explain(input.data(), explainer.layers()), Catch::Contains("out of range"));
        // The prediction is the model's own.
        auto session = model->create_session(1, h, w);
        std::vector<float> logits(model->labels().size());
        session->run(input.data(), logits.data());
        CHECK(e.prediction.logits == logits);
    }
    SECTION("ResNet: the layer4 map") {
        const auto model = load_model((fs::path(VITC_TEST_DATA_DIR) / "cnn" / "small_stem_rgb").string());
        Explainer explainer(*model);
        std::vector<float> input(3 * 28 * 28, 0.5f);
        const ExplainedImage e = explainer.explain(input.data());
        REQUIRE(e.explanations.size() == 1);
        CHECK(e.explanations[0].method == "class activation map");
        CHECK(e.explanations[0].height == 4);
        CHECK(e.explanations[0].width == 4);
        CHECK_THROWS_WITH(explainer.explain(input.data(), 0), Catch::Contains("--layer"));
    }
}

TEST_CASE("explainer: a bf16 ViT's rollout (probabilities read back from bf16) is close to the f32 one", "[explain]") {
    const std::string dir = (fs::path(VITC_TEST_DATA_DIR) / "vit" / "p4_rgb_mean_hf").string();
    const auto f32 = load_model(dir, Precision::F32), bf16 = load_model(dir, Precision::BF16);
    const int h = f32->preprocessing().output_height(), w = f32->preprocessing().output_width();
    std::vector<float> input(static_cast<size_t>(3) * h * w);
    for (size_t i = 0; i < input.size(); ++i) input[i] = static_cast<float>((i * 37) % 101) / 50.0f - 1.0f;
    Explainer a(*f32), b(*bf16);
    const Explanation ea = a.explain(input.data()).explanations[0], eb = b.explain(input.data()).explanations[0];
    REQUIRE(ea.map.size() == eb.map.size());
    for (size_t i = 0; i < ea.map.size(); ++i) CHECK(eb.map[i] == Approx(ea.map[i]).margin(0.05));
}
