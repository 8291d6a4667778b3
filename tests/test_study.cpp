#include <catch2/catch.hpp>

#include "tasks/study.hpp"

using vitc::StudyPoint;

namespace {

std::vector<StudyPoint> curves(const std::vector<int64_t>& sizes, const std::vector<double>& vit,
                               const std::vector<double>& cnn) {
    std::vector<StudyPoint> points;
    for (size_t i = 0; i < sizes.size(); ++i) {
        StudyPoint v, c;
        v.family = "vit", c.family = "cnn";
        v.size = c.size = sizes[i];
        v.test_accuracy = vit[i], c.test_accuracy = cnn[i];
        points.push_back(c), points.push_back(v);
    }
    return points;
}

}  // namespace

TEST_CASE("study findings: the CNN ahead at every size, with the gaps", "[study]") {
    const auto f = vitc::study_findings(curves({600, 6000}, {0.70, 0.85}, {0.80, 0.90}));
    REQUIRE(f.size() == 1);
    CHECK(f[0].find("The CNN is ahead at every size") == 0);
    CHECK(f[0].find("600: -10.0 points") != std::string::npos);
    CHECK(f[0].find("6000: -5.0 points") != std::string::npos);
}

TEST_CASE("study findings: where the curves cross", "[study]") {
    const auto f = vitc::study_findings(curves({600, 1800, 6000}, {0.70, 0.80, 0.92}, {0.80, 0.85, 0.90}));
    REQUIRE(f.size() == 2);
    CHECK(f[0] == "The curves cross between 1800 and 6000 training images: the ViT overtakes the CNN.");
    CHECK(f[1].find("6000: +2.0 points") != std::string::npos);
}

TEST_CASE("study findings: a size without both families is left out", "[study]") {
    auto points = curves({600}, {0.9}, {0.8});
    StudyPoint lone;
    lone.family = "vit", lone.size = 1800, lone.test_accuracy = 0.1;
    points.push_back(lone);
    const auto f = vitc::study_findings(points);
    CHECK(f[0].find("The ViT is ahead at every size") == 0);
    CHECK(f[0].find("1800") == std::string::npos);
}

TEST_CASE("study point JSON round trip", "[study]") {
    StudyPoint p;
    p.family = "cnn", p.size = 600, p.parameters = 123, p.epochs = 4, p.steps = 16, p.train_seconds = 2.5;
    p.val_accuracy = 0.5, p.test_accuracy = 0.25, p.test_images = 24;
    CHECK(StudyPoint::from_json(p.to_json()).to_json() == p.to_json());
}
