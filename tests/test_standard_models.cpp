// The random-weight standard models of `vitc bench` have the shapes of the published ones:
// parameter counts as torchvision counts them (sum of p.numel() over model.parameters()).
#include <catch2/catch.hpp>

#include "errors.hpp"
#include "models/standard_resnets.hpp"
#include "models/standard_vits.hpp"

using namespace vitc;

TEST_CASE("standard ResNets have torchvision's parameter counts and run", "[bench]") {
    const std::pair<const char*, int64_t> expected[] = {
        {"resnet18", 11689512}, {"resnet34", 21797672}, {"resnet50", 25557032}};
    for (const auto& [arch, parameters] : expected) {
        DYNAMIC_SECTION(arch) {
            const auto model = make_standard_resnet(arch, Precision::F32, 64);
            CHECK(model->summary().parameters == parameters);
            auto session = model->create_session(1, 64, 64);
            std::vector<float> image(3 * 64 * 64, 0.5f), logits(1000);
            session->run(image.data(), logits.data());
            for (float v : logits) REQUIRE(std::isfinite(v));
        }
    }
    CHECK_THROWS_AS(make_standard_resnet("resnet7", Precision::F32), Error);  // 26, 101 and 152 exist too
    CHECK_THROWS_WITH(make_standard_resnet("resnet18", Precision::INT8), Catch::Contains("int8 is not implemented"));
}

TEST_CASE("standard ViT-B/16 has torchvision's parameter count", "[bench]") {
    CHECK(make_standard_vit("vit-b16", Precision::BF16)->summary().parameters == 86567656);  // vit_b_16, 1000 classes
}
