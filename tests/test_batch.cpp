// Folder listing with labels from subfolder names, and the batch runner on a real model.
#include <catch2/catch.hpp>
#include <filesystem>
#include <opencv2/imgcodecs.hpp>
#include <sstream>
#include <thread>

#include "models/model.hpp"
#include "tasks/atomic_file.hpp"
#include "tasks/batch.hpp"
#include "test_helpers.hpp"

using namespace vitc;
namespace fs = std::filesystem;

TEST_CASE("image folder: labels from subfolder names, '/' read as '_'", "[batch]") {
    test::TempDir dir;
    fs::create_directories(dir.path / "T-shirt_top");
    fs::create_directories(dir.path / "bag" / "deeper");
    fs::create_directories(dir.path / "other");
    cv::Mat pixel(1, 1, CV_8UC1, cv::Scalar(1));
    for (const char* f : {"T-shirt_top/a.png", "bag/b.PNG", "bag/deeper/c.png", "other/d.png", "e.jpg"})
        cv::imwrite(dir.file(f), pixel);
    test::write_file(dir.file("notes.txt"), "not an image");
    const std::vector<std::string> labels = {"T-shirt/top", "Bag"};

    const ImageFolder flat = list_image_folder(dir.path.string(), false, labels);
    REQUIRE(flat.labelled);
    // Every top-level folder of a labelled folder is entered (deeper ones only with --recursive);
    // images outside label folders are classified and counted as not scored, never dropped.
    REQUIRE(flat.images.size() == 4);
    CHECK(flat.images[0].relative == "T-shirt_top/a.png");
    CHECK(flat.images[0].label == 0);
    CHECK(flat.images[1].relative == "bag/b.PNG");
    CHECK(flat.images[1].label == 1);
    CHECK(flat.images[2].label == -1);  // e.jpg at the top
    CHECK(flat.images[3].relative == "other/d.png");
    CHECK(flat.images[3].label == -1);
    using Count = std::pair<std::string, size_t>;
    CHECK(flat.not_scored == std::vector<Count>{{"(top level)", 1}, {"other", 1}});

    const ImageFolder deep = list_image_folder(dir.path.string(), true, labels);
    CHECK(deep.images.size() == 5);
    CHECK(deep.images[2].relative == "bag/deeper/c.png");
    CHECK(deep.images[2].label == 1);  // below a label folder, the label holds
}

TEST_CASE("folder names match labels whatever their case, spaces, dashes and underscores", "[batch]") {
    test::TempDir dir;
    const std::vector<std::string> labels = {"T-shirt/top", "Ankle boot", "Bag"};
    cv::Mat pixel(1, 1, CV_8UC1, cv::Scalar(1));
    for (const char* f : {"T-shirt-top/a.png", "ankle_boot/b.png", "BAG/c.png", "misc/d.png", "misc/e.png"}) {
        fs::create_directories((dir.path / f).parent_path());
        cv::imwrite(dir.file(f), pixel);
    }
    const ImageFolder folder = list_image_folder(dir.path.string(), false, labels);
    REQUIRE(folder.images.size() == 5);
    CHECK(folder.images[0].label == 2);  // BAG
    CHECK(folder.images[1].label == 0);  // T-shirt-top
    CHECK(folder.images[2].label == 1);  // ankle_boot
    CHECK(folder.images[3].label == -1);
    CHECK(folder.not_scored == std::vector<std::pair<std::string, size_t>>{{"misc", 2}});
    CHECK(label_match_key("T-shirt/top") == label_match_key("t_shirt-TOP"));
}

TEST_CASE("batch: bad images are recorded and the run goes on; accuracy counted", "[batch]") {
    const auto model = load_model((fs::path(VITC_TEST_DATA_DIR) / "vit" / "p4_gray_cls_hf_bf16").string());
    test::TempDir dir;
    fs::create_directories(dir.path / "class3");
    cv::Mat image(12, 12, CV_8UC1);
    cv::randu(image, 0, 255);
    cv::imwrite(dir.file("class3/good1.png"), image);
    cv::imwrite(dir.file("class3/good2.png"), 255 - image);
    test::write_file(dir.file("class3/broken.png"), "\x89PNG truncated");
    const ImageFolder folder = list_image_folder(dir.path.string(), false, model->labels());
    REQUIRE(folder.images.size() == 3);

    Classifier classifier(*model);
    std::ostringstream rows;
    RowWriter writer(rows, RowWriter::Format::Csv, model->labels(), 1);
    size_t progress_calls = 0;
    const BatchReport report = run_batch(
        classifier, folder.images, 2, [&](const BatchRow& row) { writer.write(row); },
        [&](size_t, size_t) { ++progress_calls; });
    CHECK(report.images == 3);
    CHECK(report.failed == 1);
    CHECK(report.evaluated == 2);
    CHECK(progress_calls == 2);
    CHECK(report.top5_correct >= report.top1_correct);
    CHECK(rows.str().find("class3/broken.png,error") != std::string::npos);

    // Same images one at a time give the same predictions as the batch of two.
    const auto single = classifier.classify_files({folder.images[1].path});
    const auto pair = classifier.classify_files({folder.images[1].path, folder.images[2].path});
    for (size_t k = 0; k < single[0].logits.size(); ++k) CHECK(single[0].logits[k] == Approx(pair[0].logits[k]).margin(1e-5));
}

TEST_CASE("atomic file: nothing at the destination until commit", "[batch]") {
    test::TempDir dir;
    const std::string path = dir.file("out.csv");
    {
        AtomicFile file(path);
        file.stream() << "partial";
        CHECK_FALSE(fs::exists(path));
    }
    CHECK_FALSE(fs::exists(path));  // abandoned: temporary removed, destination untouched
    AtomicFile file(path);
    file.stream() << "done";
    file.commit();
    CHECK(fs::exists(path));
    CHECK(fs::file_size(path) == 4);
}

TEST_CASE("one loaded model serves several threads with identical results", "[batch][threads]") {
    const auto model = load_model((fs::path(VITC_TEST_DATA_DIR) / "vit" / "p4_rgb_mean_hf").string());
    const size_t input_size = 3 * 16 * 16;
    std::vector<float> inputs(4 * input_size);
    for (size_t i = 0; i < inputs.size(); ++i) inputs[i] = static_cast<float>((i * 7919) % 255) / 127.0f - 1.0f;
    Classifier reference(*model);
    const auto expected = reference.run(inputs.data(), 4);

    std::vector<std::vector<Prediction>> results(4);
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
        threads.emplace_back([&, t] {
            Classifier classifier(*model);  // a session per thread; weights shared
            for (int repeat = 0; repeat < 5; ++repeat) results[t] = classifier.run(inputs.data(), 4);
        });
    for (auto& thread : threads) thread.join();
    for (const auto& result : results)
        for (size_t i = 0; i < expected.size(); ++i) CHECK(result[i].logits == expected[i].logits);
}
