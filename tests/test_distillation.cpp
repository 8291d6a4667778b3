// `vitc train --distill-from MODEL_DIR` (train/distillation.hpp):
//   - the mixed loss (1 - w) CE(z, smoothed label) + w CE(z, teacher's top-1) and its gradient
//     against PyTorch (tests/data/train/distillation_loss.json, scripts/make_distillation_fixture.py);
//   - the teacher re-normalises the student's batch to its own mean/std and maps its labels to the
//     data's class order: its top-1 equals the bundled ViT's own on the ten assets;
//   - a teacher of another input size or other labels is refused by name;
//   - with w = 1 the student learns the teacher's answers, not the labels;
//   - a distilled run's checkpoint resumes only with the same teacher and weight.
#include <catch2/catch.hpp>
#include <opencv2/imgcodecs.hpp>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "models/model.hpp"
#include "test_helpers.hpp"
#include "train/cross_entropy.hpp"
#include "train/dataset.hpp"
#include "train/distillation.hpp"
#include "train/trainer.hpp"

using namespace vitc;
using namespace vitc::train;
namespace fs = std::filesystem;

namespace {

const std::string kData = VITC_TEST_DATA_DIR;
const std::string kFashionVit = VITC_DEFAULT_MODEL_DIR;
const std::string kImages = kData + "/train/images";

// Each image's top-1 (an index into the model's labels) by vitc's inference path, the pixels
// normalised as the model's preprocessing says.
std::vector<int> model_top1(const std::string& directory, const ImageDataset& d) {
    const std::unique_ptr<Model> model = load_model(directory);
    const Preprocessing& p = model->preprocessing();
    const std::unique_ptr<Session> session = model->create_session(1, d.height, d.width);
    std::vector<float> input(d.image_bytes()), logits(model->labels().size());
    std::vector<int> top1;
    const size_t plane = static_cast<size_t>(d.height) * d.width;
    for (size_t i = 0; i < d.size(); ++i) {
        for (size_t k = 0; k < d.image_bytes(); ++k) {
            const size_t c = k / plane;
            const float m = p.mean.size() > c ? p.mean[c] : p.mean[0], s = p.std.size() > c ? p.std[c] : p.std[0];
            input[k] = (d.image(i)[k] * p.rescale_factor - m) / s;
        }
        session->run(input.data(), logits.data());
        top1.push_back(static_cast<int>(std::max_element(logits.begin(), logits.end()) - logits.begin()));
    }
    return top1;
}

ImageDataset assets_dataset() {
    ImageDataset d;
    d.channels = 1, d.height = 28, d.width = 28;
    for (const auto& entry : fs::directory_iterator(kData + "/../../assets")) {
        const cv::Mat m = cv::imread(entry.path().string(), cv::IMREAD_GRAYSCALE);
        REQUIRE((m.rows == 28 && m.cols == 28 && m.isContinuous()));
        d.pixels.insert(d.pixels.end(), m.data, m.data + 28 * 28);
        d.labels.push_back(0);
    }
    return d;
}

}  // namespace

TEST_CASE("distillation loss and gradient match PyTorch", "[distill]") {
    std::ifstream in(kData + "/train/distillation_loss.json");
    const nlohmann::json f = nlohmann::json::parse(in);
    const int N = f["N"], K = f["K"];
    const std::vector<float> logits = f["logits"].get<std::vector<float>>();
    const std::vector<int> labels = f["labels"], teacher = f["teacher"];
    REQUIRE(f["cases"].size() == 3);
    for (const auto& c : f["cases"]) {
        std::vector<float> dlogits(N * K);
        const LossResult r = cross_entropy(logits.data(), labels.data(), N, K, c["label_smoothing"], dlogits.data(),
                                           {teacher.data(), c["weight"].get<float>()});
        CHECK(r.loss == Approx(c["loss"].get<double>()).epsilon(1e-6));
        const std::vector<double> expected = c["dlogits"];
        for (int i = 0; i < N * K; ++i) CHECK(dlogits[i] == Approx(expected[i]).margin(1e-7));
    }
    // The teacher changes the loss: without it the fixture's first case differs.
    const LossResult plain = cross_entropy(logits.data(), labels.data(), N, K, 0.1f, nullptr);
    CHECK(std::abs(plain.loss - f["cases"][0]["loss"].get<double>()) > 0.1);
}

TEST_CASE("the teacher re-normalises the batch and maps its labels to the data's classes", "[distill]") {
    const ImageDataset assets = assets_dataset();
    const std::unique_ptr<Model> model = load_model(kFashionVit);
    const std::vector<int> reference = model_top1(kFashionVit, assets);
    // The data's classes in reverse order, and a normalisation unlike the model's.
    std::vector<std::string> classes = model->labels();
    std::reverse(classes.begin(), classes.end());
    const std::vector<float> mean = {0.5f}, stddev = {0.25f};
    Teacher teacher(kFashionVit, classes, 1, 28, 28, mean, stddev, Precision::F32);
    const int n = static_cast<int>(assets.size());
    std::vector<float> images(assets.pixels.size());
    for (size_t k = 0; k < images.size(); ++k) images[k] = (assets.pixels[k] / 255.0f - mean[0]) / stddev[0];
    std::vector<int> top1(n);
    teacher.predict(images.data(), n, top1.data());
    for (int i = 0; i < n; ++i) CHECK(classes[top1[i]] == model->labels()[reference[i]]);
    std::vector<int> distinct = reference;
    std::sort(distinct.begin(), distinct.end());
    CHECK(std::unique(distinct.begin(), distinct.end()) - distinct.begin() >= 5);  // not one answer for all

    CHECK_THROWS_WITH(Teacher(kFashionVit, classes, 1, 8, 8, mean, stddev, Precision::F32),
                      Catch::Contains("the teacher takes 28x28x1 images, the data is 8x8x1"));
    classes[3] = "Sock";
    CHECK_THROWS_WITH(Teacher(kFashionVit, classes, 1, 28, 28, mean, stddev, Precision::F32),
                      Catch::Contains("is not exactly one of the data's classes"));
    CHECK_THROWS_WITH(Teacher(kFashionVit, {"a", "b"}, 1, 28, 28, mean, stddev, Precision::F32),
                      Catch::Contains("the teacher has 10 labels, the data 2 classes"));
}

TEST_CASE("with the teacher's weight at 1 the student learns the teacher's answers", "[distill]") {
    // A teacher that learned wrong names: the training folder with its classes renamed in a
    // cycle (left's images under "top", top's under "diagonal", diagonal's under "left").
    test::TempDir tmp;
    const std::vector<std::string> names = {"diagonal", "left", "top"}, renamed = {"left", "top", "diagonal"};
    fs::create_directories(tmp.file("renamed"));
    for (size_t c = 0; c < names.size(); ++c)
        fs::copy(kImages + "/" + names[c], tmp.file("renamed/" + renamed[c]), fs::copy_options::recursive);
    const std::atomic<bool> stop{false};
    std::ostringstream log;
    TrainOptions o;
    o.val_split = 0;
    o.arch = kData + "/train/tiny_vit.json";
    o.epochs = 60;
    o.batch_size = 6;
    o.optimizer.lr = 0.003f;
    o.label_smoothing = 0;
    o.seed = 1;
    o.data = tmp.file("renamed");
    o.out = tmp.file("teacher");
    REQUIRE(run_training(o, stop, log) == 0);

    o.data = kImages;
    o.out = tmp.file("student");
    o.distill_from = tmp.file("teacher");
    o.distill_weight = 1.0f;
    REQUIRE(run_training(o, stop, log) == 0);
    CHECK_THAT(log.str(), Catch::Contains("distilling from " + o.distill_from));

    const ImageDataset data = load_dataset(kImages, 1, 8, 8);
    REQUIRE(data.class_names == names);
    const std::vector<int> teacher = model_top1(tmp.file("teacher"), data), student = model_top1(o.out, data);
    size_t teacher_cycled = 0, student_as_teacher = 0, student_right = 0;
    for (size_t i = 0; i < data.size(); ++i) {
        // The teacher's labels are sorted as the data's: index k names names[k].
        teacher_cycled += names[teacher[i]] == renamed[data.labels[i]];
        student_as_teacher += student[i] == teacher[i];
        student_right += student[i] == data.labels[i];
    }
    INFO("teacher answers the renamed class for " << teacher_cycled << ", the student answers as the teacher for "
                                                  << student_as_teacher << " and right for " << student_right << " of "
                                                  << data.size());
    REQUIRE(teacher_cycled >= data.size() - 4);  // the teacher learned the renamed classes
    CHECK(student_as_teacher >= data.size() - 2);
    CHECK(student_right <= 4);
}

TEST_CASE("a distilled run resumes only with the same teacher and weight", "[distill]") {
    test::TempDir tmp;
    const std::atomic<bool> stop{false};
    std::ostringstream log;
    TrainOptions o;
    o.data = kImages;
    o.batch_size = 8;
    o.epochs = 1;
    o.out = tmp.file("teacher");
    o.arch = "resnet-tiny";
    REQUIRE(run_training(o, stop, log) == 0);
    o.out = tmp.file("student");
    o.arch = "vit-tiny";
    o.distill_from = tmp.file("teacher");
    REQUIRE(run_training(o, stop, log) == 0);

    o.resume = true;
    o.distill_weight = 0.25f;
    CHECK_THROWS_WITH(run_training(o, stop, log), Catch::Contains("another distill_weight"));
    o.distill_from.clear();
    o.distill_weight = 0.5f;
    CHECK_THROWS_WITH(run_training(o, stop, log), Catch::Contains("pass the same --distill-from"));
    o.distill_from = tmp.file("teacher");
    CHECK(run_training(o, stop, log) == 0);  // the same teacher and weight: nothing left to run
}
