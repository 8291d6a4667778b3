// `vitc train` as a library: a tiny ViT on a tiny labelled folder (tests/data/train/images, from
// scripts/make_train_fixtures.py). An interrupted and resumed run ends with the same weights as
// an uninterrupted one, bit for bit; the model directory it writes is read back by vitc's loader
// and gives the training forward pass's logits; bad data gets a clear error.
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>

#include "errors.hpp"
#include "image/decode.hpp"
#include "image/preprocess.hpp"
#include "io/model_directory.hpp"
#include "io/safetensors.hpp"
#include "models/model.hpp"
#include "test_helpers.hpp"
#include "train/checkpoint.hpp"
#include "train/dataset.hpp"
#include "train/trainer.hpp"
#include "train/vit_train.hpp"
#include "interrupted_run.hpp"
#include "train_fixture.hpp"

using namespace vitc;
using namespace vitc::train;
namespace fs = std::filesystem;

namespace {

const std::string kImages = std::string(VITC_TEST_DATA_DIR) + "/train/images";
const std::string kTinyArch = std::string(VITC_TEST_DATA_DIR) + "/train/tiny_vit.json";

TrainOptions tiny_options(const std::string& out) {
    TrainOptions o;
    o.data = kImages;
    o.out = out;
    o.arch = kTinyArch;
    o.epochs = 3;
    o.batch_size = 5;  // 20 training images: 4 steps per epoch; 4 validation images
    o.optimizer.lr = 3e-3f;
    o.val_split = 0.2f;
    o.seed = 7;
    return o;
}

// train_log.jsonl without the timing fields, which differ from run to run.
std::vector<nlohmann::json> log_without_timing(const std::string& out) {
    std::vector<nlohmann::json> lines;
    std::ifstream in(train_log_file(out));
    for (std::string line; std::getline(in, line);) {
        nlohmann::json j = nlohmann::json::parse(line);
        j.erase("seconds");
        j.erase("images_per_second");
        lines.push_back(j);
    }
    return lines;
}

}  // namespace

TEST_CASE("train: interrupted and resumed gives the same final weights as an uninterrupted run", "[train]") {
    // On all threads (unlike the other tests): bit-for-bit equality must hold with parallel kernels.
    test::TempDir tmp;
    // With every augmentation: its draws must not depend on where the run was interrupted.
    auto options = [](const std::string& out) {
        TrainOptions o = tiny_options(out);
        o.augment = parse_augmentation("crop=1,flip,erase=0.5");
        return o;
    };
    // Stop in the middle of the second epoch (step 6 of 12), as Ctrl-C does, then resume.
    const InterruptedRun run = run_whole_and_interrupted(tmp, options, 6);
    const std::string &whole = run.whole, &parts = run.parts;
    CHECK(run.step_at_interruption == 6);

    const Checkpoint a = read_checkpoint(checkpoint_file(whole)), b = read_checkpoint(checkpoint_file(parts));
    CHECK(a.state.at("step") == 12);
    CHECK(b.state.at("step") == 12);
    REQUIRE(a.parameters.size() == b.parameters.size());
    CHECK(std::memcmp(a.parameters.data(), b.parameters.data(), a.parameters.size() * sizeof(float)) == 0);
    CHECK(std::memcmp(a.first_moment.data(), b.first_moment.data(), a.first_moment.size() * sizeof(float)) == 0);
    CHECK(test::read_bytes(weights_path(whole)) == test::read_bytes(weights_path(parts)));
    CHECK(log_without_timing(whole) == log_without_timing(parts));
    CHECK(log_without_timing(whole).size() == 3);

    // A second run into the same folder must not silently start over.
    std::atomic<bool> stop{false};
    std::ostringstream log;
    CHECK_THROWS_WITH(run_training(options(whole), stop, log), Catch::Contains("pass --resume"));
}

TEST_CASE("train: augmentation crops with black padding, flips, erases; parsing refuses unknown items", "[train]") {
    // A 1x2x3 image: pixels 1..6. No normalisation (mean 0, std 1/255) keeps the pixel values.
    const uint8_t image[6] = {1, 2, 3, 4, 5, 6};
    const std::vector<float> mean = {0.0f}, stddev = {1.0f / 255.0f};
    float out[6];
    augment_and_normalise(image, 1, 2, 3, Augmentation{}, 1, mean, stddev, out);
    CHECK(std::vector<float>(out, out + 6) == std::vector<float>{1, 2, 3, 4, 5, 6});
    Augmentation flip;
    flip.flip = true;
    bool flipped = false, kept = false;
    for (uint64_t seed = 0; seed < 16; ++seed) {
        augment_and_normalise(image, 1, 2, 3, flip, seed, mean, stddev, out);
        const std::vector<float> v(out, out + 6);
        flipped |= v == std::vector<float>{3, 2, 1, 6, 5, 4};
        kept |= v == std::vector<float>{1, 2, 3, 4, 5, 6};
        CHECK((v == std::vector<float>{3, 2, 1, 6, 5, 4} || v == std::vector<float>{1, 2, 3, 4, 5, 6}));
    }
    CHECK((flipped && kept));
    Augmentation crop;
    crop.crop_padding = 1;
    for (uint64_t seed = 0; seed < 16; ++seed) {  // every value is a pixel or the black padding
        augment_and_normalise(image, 1, 2, 3, crop, seed, mean, stddev, out);
        for (float v : out) CHECK((v >= 0 && v <= 6 && v == std::floor(v)));
    }
    CHECK(parse_augmentation("crop=2,flip,erase").describe() == "crop=2,flip,erase=0.25");
    CHECK(parse_augmentation("none").describe() == "none");
    CHECK_THROWS_WITH(parse_augmentation("rotate"), Catch::Contains("'rotate' is not one of"));
}

TEST_CASE("train: the model directory loads for inference and gives the training forward's logits", "[train]") {
    SingleThread one_thread;
    test::TempDir tmp;
    std::atomic<bool> stop{false};
    std::ostringstream log;
    TrainOptions o = tiny_options(tmp.file("model"));
    o.epochs = 1;
    REQUIRE(run_training(o, stop, log) == 0);

    const auto model = load_model(o.out);
    CHECK(model->labels() == std::vector<std::string>{"diagonal", "left", "top"});
    const std::vector<std::string> files = {kImages + "/diagonal/0.png", kImages + "/left/3.png", kImages + "/top/5.png"};
    const Preprocessing& p = model->preprocessing();
    const size_t per_image = static_cast<size_t>(model->num_channels()) * p.output_height() * p.output_width();
    std::vector<float> inputs(files.size() * per_image), logits(files.size() * 3);
    for (size_t i = 0; i < files.size(); ++i)
        preprocess_image(decode_image(files[i]), p, model->num_channels(), inputs.data() + i * per_image);
    model->create_session(3, 8, 8)->run(inputs.data(), logits.data());

    // The same images through the training forward with the weights read back from the file.
    ViTArchitecture arch = read_architecture(config_path(o.out));
    const ParameterLayout layout = vit_parameter_layout(arch);
    std::vector<float> buffer(layout.size());
    const SafetensorsFile weights = SafetensorsFile::open(weights_path(o.out));
    for (const ParameterTensor& t : layout.tensors()) {
        const std::vector<float> v = weights.read_f32(t.name);
        std::copy(v.begin(), v.end(), buffer.begin() + t.offset);
    }
    ViTTrainSession session(arch, 3);
    const float* trained = session.forward(vit_parameter_views(arch, layout, buffer.data()), inputs.data());
    for (size_t i = 0; i < logits.size(); ++i) CHECK(logits[i] == Approx(trained[i]).margin(1e-4));
}

TEST_CASE("train: clear errors for an empty folder, a single class, a diverging loss and bad IDX files", "[train]") {
    SingleThread one_thread;
    test::TempDir tmp;
    std::atomic<bool> stop{false};
    std::ostringstream log;
    TrainOptions o = tiny_options(tmp.file("out"));
    fs::create_directories(tmp.file("empty/cats"));
    o.data = tmp.file("empty");
    CHECK_THROWS_WITH(run_training(o, stop, log), Catch::Contains("no usable images"));

    fs::create_directories(tmp.file("one/cats"));
    fs::copy_file(kImages + "/top/0.png", tmp.file("one/cats/0.png"));
    o.data = tmp.file("one");
    CHECK_THROWS_WITH(run_training(o, stop, log), Catch::Contains("only one class"));

    o = tiny_options(tmp.file("diverge"));
    o.optimizer.kind = OptimizerKind::SGD;
    o.optimizer.lr = 1e30f;
    o.optimizer.clip_norm = 0;
    o.warmup_epochs = 0;
    CHECK_THROWS_WITH(run_training(o, stop, log), Catch::Matches(".*step [0-9]+ \\(epoch 1, batch [0-9]+\\): the loss is .*"));

    // IDX (uncompressed here; zlib reads both): a header that declares more images than it holds.
    auto write_idx = [&](const std::string& name, const std::vector<uint8_t>& bytes) {
        test::write_file(tmp.file(name), std::string(bytes.begin(), bytes.end()));
        return tmp.file(name);
    };
    std::vector<uint8_t> images = {0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 2};
    images.insert(images.end(), 8, 100);  // two 2x2 images
    const std::vector<uint8_t> labels = {0, 0, 8, 1, 0, 0, 0, 2, 3, 7};
    const ImageDataset d = load_idx_dataset(write_idx("i.gz", images), write_idx("l.gz", labels));
    CHECK(d.size() == 2);
    CHECK(d.height == 2);
    CHECK(d.labels == std::vector<int>{3, 7});
    images[7] = 3;  // 3 images declared, 2 present
    CHECK_THROWS_WITH(load_idx_dataset(write_idx("i3.gz", images), write_idx("l.gz", labels)),
                      Catch::Contains("IDX header declares 28 bytes, the file holds 24"));
}
