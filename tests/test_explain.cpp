// Explanations: class activation maps and attention rollout on hand-checked cases, the pictures
// and their base64 encoding, and the explainer on fixture models.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>

#include "explain/cam.hpp"
#include "explain/data_uri.hpp"
#include "explain/explainer.hpp"
#include "explain/heatmap.hpp"
#include "explain/picture.hpp"
#include "explain/plain_resnet.hpp"
#include "explain/rollout.hpp"
#include "image/preprocess.hpp"
#include "models/model.hpp"
#include "models/resnet.hpp"

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
    const auto map = patch_relevance(rollout, T, 1, false);
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
    const auto one = patch_relevance(attention_rollout({layer}, H, T), T, 1, false);
    CHECK(one[0] == Approx(0.25));
    CHECK(one[1] == Approx(0.0).margin(1e-7));
    const auto two = attention_rollout({layer, layer}, H, T);
    CHECK(two[0] == Approx(0.5625));
    CHECK(two[1] == Approx(0.4375));
    CHECK(two[2] == Approx(0.0).margin(1e-7));
    // Without a class token the pooled token is the mean of all rows: columns of Â Â averaged.
    //   Â Â rows: (.5625 .4375 0), (0 1 0), (0 .4375 .5625) -> column means over the patch columns
    //   (the prefix is 0, so every column is a patch): (.1875, .625, .1875)
    const auto mean_pool = patch_relevance(two, T, 0, true);
    CHECK(mean_pool[0] == Approx(0.1875));
    CHECK(mean_pool[1] == Approx(0.625));
    CHECK(mean_pool[2] == Approx(0.1875));
    // A class token and mean pooling: the patch rows (1, 2) over the patch columns (1, 2), averaged:
    //   ((1 + .4375) / 2, (0 + .5625) / 2); the class token's row (.4375, 0) is not what the head reads.
    const auto patches_only = patch_relevance(two, T, 1, true);
    REQUIRE(patches_only.size() == 2);
    CHECK(patches_only[0] == Approx(0.71875));
    CHECK(patches_only[1] == Approx(0.28125));
    CHECK_THROWS_WITH(patch_relevance(two, T, 0, false), Catch::Contains("no class token"));
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
    SECTION("ResNet: Grad-CAM on layer3, then the layer4 map") {
        const auto model = load_model((fs::path(VITC_TEST_DATA_DIR) / "cnn" / "small_stem_rgb").string());
        Explainer explainer(*model);
        std::vector<float> input(3 * 28 * 28, 0.5f);
        const ExplainedImage e = explainer.explain(input.data());
        REQUIRE(e.explanations.size() == 2);
        CHECK(e.explanations[0].method == "Grad-CAM on layer3");
        CHECK(e.explanations[0].height == 7);
        CHECK(e.explanations[0].width == 7);
        CHECK(e.explanations[1].method == "class activation map of layer4");
        CHECK(e.explanations[1].height == 4);
        CHECK(e.explanations[1].width == 4);
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

namespace {

// A deterministic input in [-1, 1).
std::vector<float> pattern(size_t n, int seed) {
    std::vector<float> v(n);
    for (size_t i = 0; i < n; ++i) v[i] = static_cast<float>((i * 37 + seed * 11) % 101) / 50.0f - 1.0f;
    return v;
}

}  // namespace

TEST_CASE("explainer: a mean-pooled ViT with a class token explains the mean of its patch tokens", "[explain]") {
    // p4_rgb_mean_hf: 16x16, patch 4 (4x4 patches), a class token, pooling "mean". Reference: the
    // session's own attention probabilities, rolled out here in a separate loop,
    //   R = prod_l (A_l + I) / 2 (rows of A_l sum to 1),
    // and the mean of R's patch rows over the patch columns, min-max normalised.
    const auto model = load_model((fs::path(VITC_TEST_DATA_DIR) / "vit" / "p4_rgb_mean_hf").string());
    const int64_t H = 4, T = 17, P = 16;
    const std::vector<float> input = pattern(3 * 16 * 16, 1);
    auto session = model->create_session(1, 16, 16);
    auto* probe = dynamic_cast<AttentionProbe*>(session.get());
    REQUIRE(probe);
    std::vector<std::vector<double>> layers;  // head-averaged [T, T] per layer
    probe->observe_attention([&](int, const dnnl::memory& m) {
        REQUIRE(m.get_desc().data_type() == dnnl::memory::data_type::f32);
        const float* a = static_cast<const float*>(m.get_data_handle());
        std::vector<double> mean(T * T, 0.0);
        for (int64_t h = 0; h < H; ++h)
            for (int64_t i = 0; i < T * T; ++i) mean[i] += a[h * T * T + i] / H;
        layers.push_back(mean);
    });
    std::vector<float> logits(model->labels().size());
    session->run(input.data(), logits.data());
    REQUIRE(layers.size() == 2);
    std::vector<double> R(T * T, 0.0);
    for (int64_t i = 0; i < T; ++i) R[i * T + i] = 1.0;
    for (const std::vector<double>& A : layers) {
        std::vector<double> next(T * T, 0.0);
        for (int64_t i = 0; i < T; ++i)
            for (int64_t k = 0; k < T; ++k) {
                const double a = (A[i * T + k] + (i == k ? 1.0 : 0.0)) / 2.0;
                for (int64_t j = 0; j < T; ++j) next[i * T + j] += a * R[k * T + j];
            }
        R = next;
    }
    std::vector<double> patch_mean(P, 0.0), class_row(P);
    for (int64_t p = 0; p < P; ++p) {
        for (int64_t i = 1; i < T; ++i) patch_mean[p] += R[i * T + 1 + p] / P;
        class_row[p] = R[1 + p];
    }
    const auto normalised = [](std::vector<double> v) {
        const auto [lo, hi] = std::minmax_element(v.begin(), v.end());
        const double l = *lo, h = *hi;
        for (double& x : v) x = (x - l) / (h - l);
        return v;
    };
    const std::vector<double> expected = normalised(patch_mean), class_map = normalised(class_row);

    Explainer explainer(*model);
    const ExplainedImage e = explainer.explain(input.data());
    const std::vector<float>& map = e.explanations.at(0).map;
    REQUIRE(map.size() == static_cast<size_t>(P));
    double differs_from_class_row = 0;
    for (int64_t p = 0; p < P; ++p) {
        CHECK(map[p] == Approx(expected[p]).margin(1e-4));
        differs_from_class_row = std::max(differs_from_class_row, std::abs(class_map[p] - expected[p]));
    }
    CHECK(differs_from_class_row > 0.05);  // the two readings differ here, so the check above can tell them apart
}

TEST_CASE("model view: the model's preprocessed input as pixels, grey for a grey model", "[explain]") {
    // A strongly coloured image: red left half, blue right half (BGR).
    cv::Mat colour(20, 20, CV_8UC3, cv::Scalar(0, 0, 255));
    colour(cv::Rect(10, 0, 10, 20)).setTo(cv::Scalar(255, 0, 0));
    SECTION("grey model: every pixel of the panel grey, the values the model read") {
        const auto model = load_model((fs::path(VITC_TEST_DATA_DIR) / "vit" / "p4_gray_cls_hf_bf16").string());
        const Preprocessing& p = model->preprocessing();
        const int h = p.output_height(), w = p.output_width();
        std::vector<float> input(static_cast<size_t>(h) * w);
        preprocess_image(colour, p, 1, input.data());
        const cv::Mat view = model_view(input.data(), 1, h, w, p);
        REQUIRE(view.size() == cv::Size(w, h));
        REQUIRE(view.type() == CV_8UC3);
        // ITU-R 601 luma of pure red is 76, of pure blue 29: the model saw two greys.
        CHECK(std::abs(view.at<cv::Vec3b>(h / 2, 0)[0] - 76) <= 1);
        CHECK(std::abs(view.at<cv::Vec3b>(h / 2, w - 1)[0] - 29) <= 1);
        const cv::Mat panel = input_panel(input.data(), *model, {"x.png", "as the model sees it"}, "grey");
        for (int y = 0; y < panel.rows; ++y)
            for (int x = 0; x < panel.cols; ++x) {
                const cv::Vec3b v = panel.at<cv::Vec3b>(y, x);
                REQUIRE((v[0] == v[1] && v[1] == v[2]));
            }
        CHECK(input_description(*model) == "grey " + std::to_string(w) + "x" + std::to_string(h) + " input");
    }
    SECTION("RGB model: the colours come back in BGR order") {
        const auto model = load_model((fs::path(VITC_TEST_DATA_DIR) / "vit" / "p4_rgb_mean_hf").string());
        const Preprocessing& p = model->preprocessing();
        const int h = p.output_height(), w = p.output_width();
        std::vector<float> input(static_cast<size_t>(3) * h * w);
        preprocess_image(colour, p, 3, input.data());
        const cv::Mat view = model_view(input.data(), 3, h, w, p);
        const cv::Vec3b left = view.at<cv::Vec3b>(h / 2, 0), right = view.at<cv::Vec3b>(h / 2, w - 1);
        CHECK(left[2] >= 254);
        CHECK(left[0] <= 1);
        CHECK(right[0] >= 254);
        CHECK(right[2] <= 1);
    }
}

TEST_CASE("colour scale: blue at the low end, red at the high end, under the picture", "[explain]") {
    const cv::Mat picture(100, 200, CV_8UC3, cv::Scalar(128, 128, 128));
    const cv::Mat out = with_colour_scale(picture);
    REQUIRE(out.rows == picture.rows + kScaleHeight);
    REQUIRE(out.cols == picture.cols);
    const int y = picture.rows + kScaleHeight / 2;
    // just inside the bar's ends ("low" and "high" are written beside them)
    int first = 0, last = out.cols - 1;
    while (first < out.cols && out.at<cv::Vec3b>(y, first) != cv::Vec3b(30, 30, 30)) ++first;
    while (last > 0 && out.at<cv::Vec3b>(y, last) != cv::Vec3b(30, 30, 30)) --last;
    REQUIRE(last - first > 20);
    const cv::Vec3b low = out.at<cv::Vec3b>(y, first + 2), high = out.at<cv::Vec3b>(y, last - 2);
    CHECK(low[0] > low[2]);    // BGR: blue
    CHECK(high[2] > high[0]);  // red
}

TEST_CASE("plain ResNet: the model's logits, and gradients that match finite differences", "[explain]") {
    for (const std::string name : {"small_stem_rgb", "resnet18_layout_gray", "resnet50_layout_rgb"}) {
        CAPTURE(name);
        const auto loaded = load_model((fs::path(VITC_TEST_DATA_DIR) / "cnn" / name).string());
        const auto& model = dynamic_cast<const ResNetModel&>(*loaded);
        const Preprocessing& p = model.preprocessing();
        const int h = p.output_height(), w = p.output_width(), C = model.num_channels();
        const std::vector<float> input = pattern(static_cast<size_t>(C) * h * w, 2);
        std::vector<float> logits(model.labels().size());
        model.create_session(1, h, w)->run(input.data(), logits.data());

        const PlainResNet plain(model);
        const std::vector<FeatureMap> stages = plain.forward(input.data(), h, w);
        REQUIRE(stages.size() == 4);
        const std::vector<float> mine = plain.logits_from(3, stages[3]);
        REQUIRE(mine.size() == logits.size());
        for (size_t k = 0; k < logits.size(); ++k) CHECK(mine[k] == Approx(logits[k]).epsilon(1e-3).margin(1e-4));
        const std::vector<float> from_layer2 = plain.logits_from(1, stages[1]);
        for (size_t k = 0; k < logits.size(); ++k) CHECK(from_layer2[k] == Approx(mine[k]).epsilon(1e-5).margin(1e-5));

        // d logit[k] / d layer3 against central differences, on a few elements.
        const int k = 1, stage = 2;
        const FeatureMap& a = stages[stage];
        const FeatureMap g = plain.class_gradient(stage, a, k);
        REQUIRE(g.values.size() == a.values.size());
        const double eps = 1e-2;
        for (size_t i = 0; i < a.values.size(); i += a.values.size() / 7 + 1) {
            FeatureMap up = a, down = a;
            up.values[i] += static_cast<float>(eps);
            down.values[i] -= static_cast<float>(eps);
            const double numeric = (plain.logits_from(stage, up)[k] - plain.logits_from(stage, down)[k]) / (2 * eps);
            CAPTURE(i);
            CHECK(g.values[i] == Approx(numeric).margin(2e-3).epsilon(2e-2));
        }
        // On the last stage Grad-CAM is the class activation map / (h w), clipped at 0.
        const FeatureMap& last = stages[3];
        const FeatureMap g4 = plain.class_gradient(3, last, k);
        const std::vector<float> gc = grad_cam(last.values, g4.values, last.channels, last.height, last.width);
        const std::vector<float> cam = class_activation_map(last.values.data(), last.channels, last.height, last.width,
                                                            model.fc_weight().values.data() + k * last.channels);
        for (size_t i = 0; i < cam.size(); ++i)
            CHECK(gc[i] == Approx(std::max(cam[i], 0.0f) / (last.height * last.width)).margin(1e-5));
    }
}
