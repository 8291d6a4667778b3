// `vitc train --init-from MODEL_DIR [--freeze-backbone]` and `--val DIR` as a library
// (train/init_from.hpp, train/linear_probe.hpp, train/validation_folder.hpp):
//   - before any step, the training forward of a model read with --init-from gives vitc's
//     inference logits, for the bundled ViT on real images (normalised with the model's own
//     mean/std), for every naming scheme, storage type, pooling and position kind of the ViT
//     inference fixtures (tests/data/vit) and a converted torchvision .pth (tests/data/byom), and
//     for ResNets in vitc's, timm's, Hugging Face's and torchvision's configs and names (BatchNorm
//     running statistics carried over);
//   - the head is kept when the data's classes are the model's labels (rows reordered to the
//     data's order), else new (timm's init), the backbone unchanged either way;
//   - --freeze-backbone changes only the head tensors of the written model (the bundled ViT and
//     CNN; the CNN's BatchNorm statistics stay) and raises the validation accuracy (Fashion-MNIST
//     when /usr/share/datasets/fashion-mnist is installed, else the small labelled folder
//     tests/data/train/images); interrupted and resumed, it ends with the same weights;
//   - --val DIR replaces the split (a labelled folder, or the t10k IDX pair), and a folder whose
//     classes differ is refused by name.
#include <catch2/catch.hpp>
#include <opencv2/imgcodecs.hpp>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <sstream>

#include "errors.hpp"
#include "image/decode.hpp"
#include "image/preprocess.hpp"
#include "io/model_directory.hpp"
#include "io/safetensors.hpp"
#include "models/model.hpp"
#include "tasks/checkpoint_convert.hpp"
#include "tasks/image_folder.hpp"
#include "test_helpers.hpp"
#include "train/augment.hpp"
#include "train/checkpoint.hpp"
#include "train/dataset.hpp"
#include "train/init_from.hpp"
#include "train/trainer.hpp"
#include "train/vit_train_model.hpp"
#include "interrupted_run.hpp"
#include "train_fixture.hpp"

using namespace vitc;
using namespace vitc::train;
namespace fs = std::filesystem;

namespace {

const std::string kData = VITC_TEST_DATA_DIR;
const std::string kFashionVit = VITC_DEFAULT_MODEL_DIR;
const std::string kFashionCnn = std::string(VITC_DEFAULT_MODEL_DIR) + "/../fashion-cnn";
const std::string kAssets = kData + "/../../assets";
const std::string kImages = kData + "/train/images";
const std::string kFashionIdx = "/usr/share/datasets/fashion-mnist";

// The model's parameters (and state) as initialise() gives them.
std::vector<float> initial_parameters(const TrainModel& model, uint64_t seed, std::vector<float>* state = nullptr) {
    std::vector<float> p(model.parameters().size()), s(model.state().size());
    model.initialise(p.data(), s.data(), seed);
    if (state) *state = s;
    return p;
}

std::vector<float> tensor_of(const TrainModel& model, const std::vector<float>& buffer, const std::string& name) {
    const ParameterTensor& t = model.parameters().find(name);
    return std::vector<float>(buffer.begin() + t.offset, buffer.begin() + t.offset + t.numel);
}

const std::vector<std::string>& labels_of(const TrainModel& model) {
    return dynamic_cast<const ViTTrainModel&>(model).architecture().config.labels;
}

// Training-forward logits (Eval) of images [n, C, H, W].
std::vector<float> training_logits(const TrainModel& model, const std::vector<float>& parameters,
                                   std::vector<float> state, const std::vector<float>& images, int n) {
    const std::unique_ptr<TrainSession> session = model.session(n, {});
    const float* logits = session->forward(parameters.data(), state.data(), images.data(), Mode::Eval);
    return std::vector<float>(logits, logits + static_cast<size_t>(n) * model.classes());
}

std::string loaded_family(const std::string& dir) { return load_model(dir)->summary().family; }

std::vector<float> inference_logits(const Model& model, const std::vector<float>& images, int n, int h, int w) {
    std::vector<float> logits(static_cast<size_t>(n) * model.labels().size());
    model.create_session(n, h, w)->run(images.data(), logits.data());
    return logits;
}

// A labelled folder: class name -> images, written as PNG.
void write_folder(const std::string& root, const std::string& name, const std::vector<cv::Mat>& images) {
    fs::create_directories(fs::path(root) / name);
    for (size_t i = 0; i < images.size(); ++i)
        REQUIRE(cv::imwrite((fs::path(root) / name / (std::to_string(i) + ".png")).string(), images[i]));
}

double accuracy(const std::vector<float>& logits, const std::vector<int>& labels, size_t K) {
    size_t correct = 0;
    for (size_t i = 0; i < labels.size(); ++i) {
        const float* row = logits.data() + i * K;
        correct += static_cast<size_t>(std::max_element(row, row + K) - row) == static_cast<size_t>(labels[i]);
    }
    return static_cast<double>(correct) / labels.size();
}

}  // namespace

TEST_CASE("train --init-from: before any step the bundled ViT's training forward gives vitc's inference logits", "[train][finetune]") {
    SingleThread one_thread;
    const PretrainedModel p = read_pretrained(kFashionVit);
    std::string note;
    const auto model = pretrained_train_model(p, p.labels, note);
    CHECK_THAT(note, Catch::Contains("kept its head"));

    // Real images, decoded into the training cache at the model's size and normalised with the
    // model's mean/std, against vitc's own preprocessing of the same files.
    test::TempDir tmp;
    std::vector<std::string> files;
    for (const auto& e : fs::directory_iterator(kAssets)) files.push_back(e.path().string());
    std::sort(files.begin(), files.end());
    REQUIRE(files.size() == 10);
    for (size_t i = 0; i < files.size(); ++i) {  // two class folders, the files in sorted order
        fs::create_directories(tmp.file(i < 5 ? "a" : "b"));
        fs::copy_file(files[i], tmp.file((i < 5 ? "a/" : "b/") + fs::path(files[i]).filename().string()));
    }
    const ArchitectureInput in = p.input();
    const ImageDataset data = load_dataset(tmp.path.string(), in.channels, in.height, in.width);
    REQUIRE(data.size() == files.size());
    const auto loaded = load_model(kFashionVit);
    const size_t per_image = data.image_bytes();
    std::vector<float> trainer_input(files.size() * per_image), vitc_input(files.size() * per_image);
    for (size_t i = 0; i < files.size(); ++i) {
        augment_and_normalise(data.image(i), data.channels, data.height, data.width, Augmentation{}, 0, p.mean, p.std,
                              trainer_input.data() + i * per_image);
        preprocess_image(decode_image(files[i]), loaded->preprocessing(), loaded->num_channels(),
                         vitc_input.data() + i * per_image);
    }
    for (size_t i = 0; i < trainer_input.size(); ++i) REQUIRE(trainer_input[i] == Approx(vitc_input[i]).margin(1e-5));

    const int n = static_cast<int>(files.size());
    const std::vector<float> want = inference_logits(*loaded, vitc_input, n, in.height, in.width);
    const std::vector<float> got = training_logits(*model, initial_parameters(*model, 1), {}, trainer_input, n);
    for (size_t i = 0; i < want.size(); ++i) CHECK(got[i] == Approx(want[i]).margin(1e-4));
    // And the model still knows its images: the argmax is the file's class for at least 8 of the
    // 10 (the bundled ViT, 91.3% on the test set, takes the shirt for a T-shirt/top; a wrong
    // normalisation or channel order gets a handful at most).
    int right = 0;
    for (size_t i = 0; i < files.size(); ++i) {
        const float* row = got.data() + i * 10;
        const std::string predicted = labels_of(*model)[std::max_element(row, row + 10) - row];
        UNSCOPED_INFO(files[i] << ": " << predicted);
        right += label_match_key(predicted) == label_match_key(fs::path(files[i]).stem().string());
    }
    CHECK(right >= 8);
}

TEST_CASE("train --init-from: every ViT and ResNet naming, storage type, pooling, position kind and stem starts at vitc's logits", "[train][finetune]") {
    SingleThread one_thread;
    test::TempDir tmp;
    // The torchvision .pth of tests/data/byom, converted as `vitc convert` does (float16 storage,
    // torchvision names, resize-and-crop preprocessing).
    ConvertOptions convert;
    convert.arch = "vit_b_16";
    convert.heads = 2;
    convert_checkpoint(kData + "/byom/torchvision_vit_b_16/vit_b_16.pth", convert, tmp.file("tv_vit_b_16"));
    // p4_rgb_cls_hf_interp's positions were trained for 16x16; a preprocessor asking for 24x24
    // makes inference resize them (bicubic), and training must start from the same table.
    fs::copy(kData + "/vit/p4_rgb_cls_hf_interp", tmp.file("interp24"));
    test::write_file(tmp.file("interp24/preprocessor_config.json"),
                     R"({"do_resize": true, "size": {"height": 24, "width": 24}, "do_normalize": true,
                         "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5]})");
    CHECK(read_pretrained(tmp.file("interp24")).vit.tokens() == 1 + 6 * 6);
    ConvertOptions resnet;
    resnet.arch = "resnet18";
    resnet.image_size = 32;
    convert_checkpoint(kData + "/byom/torchvision_resnet18/resnet18.pth", resnet, tmp.file("tv_resnet18"));
    // A ViT with shifted patch tokens: the training fixture's config and tensors as a model directory.
    fs::create_directories(tmp.file("shifted"));
    fs::copy_file(kData + "/train/p4_cls_learned_shifted/config.json", config_path(tmp.file("shifted")));
    fs::copy_file(kData + "/train/p4_cls_learned_shifted/fixture.safetensors", weights_path(tmp.file("shifted")));
    const std::vector<std::string> dirs = {kData + "/vit/p16_rgb_cls_timm",    kData + "/vit/p1_gray_cls_tv",
                                           kData + "/vit/p4_rgb_mean_hf",      kData + "/vit/p4_rgb_cls_hf_interp",
                                           kData + "/vit/p2_rgb_cls_tv_sincos", kData + "/vit/p4_gray_cls_hf_bf16",
                                           kData + "/vit/p4_rgb_cls_tv_f16",   tmp.file("tv_vit_b_16"),
                                           tmp.file("interp24"), tmp.file("shifted"),
                                           // ResNets: vitc's, timm's, Hugging Face's and torchvision's configs and names
                                           kFashionCnn,
                                           kData + "/cnn/small_stem_rgb", kData + "/byom/timm_resnet18",
                                           kData + "/byom/hf_resnet", tmp.file("tv_resnet18")};
    std::mt19937 rng(5);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    for (const std::string& dir : dirs) {
        INFO(dir);
        const PretrainedModel p = read_pretrained(dir);
        CHECK(p.family == loaded_family(dir));
        std::string note;
        const auto model = pretrained_train_model(p, p.labels, note);
        const auto loaded = load_model(dir);
        const ArchitectureInput in = p.input();
        CHECK(in.height == loaded->preprocessing().output_height());
        const int n = 2;
        std::vector<float> images(static_cast<size_t>(n) * in.channels * in.height * in.width);
        for (float& v : images) v = normal(rng);
        const std::vector<float> want = inference_logits(*loaded, images, n, in.height, in.width);
        std::vector<float> state;
        const std::vector<float> parameters = initial_parameters(*model, 1, &state);
        const std::vector<float> got = training_logits(*model, parameters, state, images, n);
        check_close("logits", got.data(), want);
    }
}

TEST_CASE("train --init-from: the head is kept for the model's own classes, in the data's order, else new", "[train][finetune]") {
    const PretrainedModel p = read_pretrained(kFashionVit);
    const std::vector<std::string>& labels = p.labels;
    std::string note;
    const auto same = pretrained_train_model(p, labels, note);
    const std::vector<float> pretrained_head = tensor_of(*same, p.parameters, "head.weight");
    const size_t width = p.vit.config.hidden_size;  // the bundled ViT's
    const std::vector<float> kept = initial_parameters(*same, 1);
    CHECK(tensor_of(*same, kept, "head.weight") == pretrained_head);
    CHECK(kept == p.parameters);  // the whole buffer: backbone and head as read
    CHECK(labels_of(*same) == labels);

    // A labelled folder of the same classes: folder names sorted, '/' spelt '_'.
    const std::vector<std::string> folders = {"Ankle boot", "Bag",     "Coat",        "Dress",  "Pullover",
                                              "Sandal",     "Shirt",   "Sneaker",     "T-shirt_top", "Trouser"};
    const auto reordered = pretrained_train_model(p, folders, note);
    CHECK_THAT(note, Catch::Contains("kept its head") && Catch::Contains("reordered"));
    const std::vector<float> r = initial_parameters(*reordered, 1);
    const std::vector<float> w = tensor_of(*reordered, r, "head.weight"), b = tensor_of(*reordered, r, "head.bias");
    const std::vector<float> old_b = tensor_of(*same, p.parameters, "head.bias");
    for (size_t k = 0; k < folders.size(); ++k) {
        const size_t row = std::find(labels.begin(), labels.end(), labels_of(*reordered)[k]) - labels.begin();
        REQUIRE(row < labels.size());
        CHECK(label_match_key(labels[row]) == label_match_key(folders[k]));
        CHECK(std::equal(w.begin() + k * width, w.begin() + (k + 1) * width, pretrained_head.begin() + row * width));
        CHECK(b[k] == old_b[row]);
    }
    CHECK(labels_of(*reordered)[8] == "T-shirt/top");  // the model's spelling is written

    // Other classes (or only some of the model's): a new head, timm's init, drawn from the seed.
    for (const std::vector<std::string>& classes :
         {std::vector<std::string>{"cat", "dog", "bird"},
          std::vector<std::string>(labels.begin(), labels.end() - 1)}) {
        const auto fresh = pretrained_train_model(p, classes, note);
        CHECK_THAT(note, Catch::Contains("a new head for the data's " + std::to_string(classes.size()) + " classes"));
        CHECK(labels_of(*fresh) == classes);
        const std::vector<float> a = initial_parameters(*fresh, 1), a2 = initial_parameters(*fresh, 1),
                                 c = initial_parameters(*fresh, 2);
        CHECK(a == a2);
        const std::vector<float> head = tensor_of(*fresh, a, "head.weight");
        CHECK(head.size() == classes.size() * width);
        CHECK(head != tensor_of(*fresh, c, "head.weight"));
        double squares = 0;
        for (float v : head) {
            CHECK(std::abs(v) <= 0.04f);  // truncated at 2 sigma
            squares += double(v) * v;
        }
        CHECK(std::sqrt(squares / head.size()) == Approx(0.02 * 0.88).epsilon(0.25));  // sd of N(0,1) cut at 2: 0.88
        for (float v : tensor_of(*fresh, a, "head.bias")) CHECK(v == 0.0f);
        for (const ParameterTensor& t : fresh->parameters().tensors())
            if (t.name.rfind("head.", 0) != 0) CHECK(tensor_of(*fresh, a, t.name) == tensor_of(*same, p.parameters, t.name));
    }
}

TEST_CASE("train --init-from: what it cannot start from is refused with the reason", "[train][finetune]") {
    SingleThread one_thread;
    CHECK_THROWS_WITH(read_pretrained(kData + "/train"), Catch::Contains("config.json"));
    test::TempDir tmp;
    std::atomic<bool> stop{false};
    std::ostringstream log;
    TrainOptions o;
    o.data = kImages;
    o.out = tmp.file("out");
    o.freeze_backbone = true;
    CHECK_THROWS_WITH(run_training(o, stop, log), Catch::Contains("--freeze-backbone needs --init-from"));
    o.init_from = kFashionVit;
    o.image_size = 32;
    CHECK_THROWS_WITH(run_training(o, stop, log), Catch::Contains("--init-from's model fixes the input size"));
    // IDX files hold 28x28 gray images; a model of 32x32 colour cannot take them.
    const std::vector<uint8_t> images = {0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 28, 0, 0, 0, 28};
    std::string bytes(images.begin(), images.end());
    bytes += std::string(2 * 28 * 28, '\x40');
    fs::create_directories(tmp.file("idx"));
    test::write_file(tmp.file("idx/train-images-idx3-ubyte"), bytes);
    test::write_file(tmp.file("idx/train-labels-idx1-ubyte"), std::string("\0\0\x08\x01\0\0\0\x02\x00\x01", 10));
    o = TrainOptions{};
    o.data = tmp.file("idx");
    o.out = tmp.file("out");
    o.init_from = kData + "/vit/p16_rgb_cls_timm";
    CHECK_THROWS_WITH(run_training(o, stop, log), Catch::Contains("the IDX images are 28x28 gray"));
}

TEST_CASE("train --freeze-backbone: only the head changes, and validation accuracy rises", "[train][finetune]") {
    SingleThread one_thread;
    test::TempDir tmp;
    // Train and validation folders under class names the model does not have (a new head):
    // Fashion-MNIST's test images when installed (40 and 20 per class), else the small folder.
    const std::string train_dir = tmp.file("train"), val_dir = tmp.file("val");
    const bool fashion = fs::exists(kFashionIdx + "/t10k-images-idx3-ubyte.gz");
    if (fashion) {
        const ImageDataset d =
            load_idx_dataset(kFashionIdx + "/t10k-images-idx3-ubyte.gz", kFashionIdx + "/t10k-labels-idx1-ubyte.gz");
        std::vector<std::vector<cv::Mat>> by_class(10);
        for (size_t i = 0; i < d.size(); ++i)
            if (by_class[d.labels[i]].size() < 60)
                by_class[d.labels[i]].push_back(cv::Mat(28, 28, CV_8UC1, const_cast<uint8_t*>(d.image(i))).clone());
        for (int k = 0; k < 10; ++k) {
            const std::string name = "kind" + std::to_string(k);
            write_folder(train_dir, name, std::vector<cv::Mat>(by_class[k].begin(), by_class[k].begin() + 40));
            write_folder(val_dir, name, std::vector<cv::Mat>(by_class[k].begin() + 40, by_class[k].end()));
        }
    } else {
        for (const std::string name : {"diagonal", "left", "top"})
            for (int i = 0; i < 8; ++i) {
                const std::string to = (i < 5 ? train_dir : val_dir) + "/" + name;
                fs::create_directories(to);
                fs::copy_file(kImages + "/" + name + "/" + std::to_string(i) + ".png", to + "/" + std::to_string(i) + ".png");
            }
    }
    WARN("--freeze-backbone test data: " << (fashion ? "Fashion-MNIST, 400 training and 200 validation images"
                                                     : "tests/data/train/images (Fashion-MNIST is not installed)"));
    // The bundled ViT, and the bundled CNN (BatchNorm: its running statistics must not move).
    for (const std::string& model_dir : {kFashionVit, kFashionCnn}) {
        INFO(model_dir);
        std::atomic<bool> stop{false};
        std::ostringstream log;
        TrainOptions o;
        o.data = train_dir;
        o.val = val_dir;
        o.out = tmp.file("out-" + fs::path(model_dir).filename().string());
        o.init_from = model_dir;
        o.freeze_backbone = true;
        o.epochs = fashion ? 10 : 20;
        o.batch_size = fashion ? 50 : 5;
        o.optimizer.lr = 0.01f;
        o.seed = 3;
        REQUIRE(run_training(o, stop, log) == 0);
        INFO(log.str());
        CHECK_THAT(log.str(), Catch::Contains("a new head") && Catch::Contains("features: ") &&
                                  Catch::Contains("(--val)"));

        // The written file against the starting point: every backbone tensor (and BatchNorm
        // statistic) bit for bit, a new head.
        const PretrainedModel p = read_pretrained(model_dir);
        const ImageDataset val = load_dataset(val_dir, 1, 28, 28);
        std::string note;
        const auto start = pretrained_train_model(p, val.class_names, note);
        std::vector<float> state;
        const std::vector<float> initial = initial_parameters(*start, o.seed + 1, &state);
        const SafetensorsFile written = SafetensorsFile::open(weights_path(o.out));
        const TrainModel::Head head = start->head();
        size_t heads = 0;
        for (const ParameterTensor& t : start->parameters().tensors()) {
            INFO(t.name);
            const bool is_head = t.name == head.weight || t.name == head.bias;
            heads += is_head;
            CHECK((written.read_f32(t.name) == tensor_of(*start, initial, t.name)) == !is_head);
        }
        CHECK(heads == 2);
        for (const ParameterTensor& t : start->state().tensors()) {
            INFO(t.name);
            CHECK(written.read_f32(t.name) == std::vector<float>(state.begin() + t.offset, state.begin() + t.offset + t.numel));
        }

        // Validation accuracy of the starting point (new head) and of the written model, on the
        // validation folder, through vitc's inference.
        const auto trained = load_model(o.out);
        std::vector<float> images(val.size() * val.image_bytes());
        for (size_t i = 0; i < val.size(); ++i)
            augment_and_normalise(val.image(i), 1, 28, 28, Augmentation{}, 0, p.mean, p.std,
                                  images.data() + i * val.image_bytes());
        const int n = static_cast<int>(val.size());
        const double before = accuracy(training_logits(*start, initial, state, images, n), val.labels, val.class_names.size());
        const double after = accuracy(inference_logits(*trained, images, n, 28, 28), val.labels, val.class_names.size());
        WARN(model_dir << ": validation accuracy before " << before << ", after " << after);
        CHECK(after >= before + 0.3);
        CHECK(after >= (fashion ? 0.7 : 0.8));
    }
}

TEST_CASE("train --freeze-backbone: interrupted and resumed gives the same weights", "[train][finetune]") {
    SingleThread one_thread;
    test::TempDir tmp;
    auto options = [&](const std::string& out) {
        TrainOptions o;
        o.data = kImages;
        o.out = out;
        o.init_from = kFashionVit;
        o.freeze_backbone = true;
        o.epochs = 3;
        o.batch_size = 5;  // 4 steps per epoch
        o.val_split = 0.2f;
        o.optimizer.lr = 0.01f;
        o.seed = 9;
        return o;
    };
    const InterruptedRun run = run_whole_and_interrupted(tmp, options, 6);
    const std::string &whole = run.whole, &parts = run.parts;
    const Checkpoint a = read_checkpoint(checkpoint_file(whole)), b = read_checkpoint(checkpoint_file(parts));
    const size_t width = read_pretrained(kFashionVit).vit.config.hidden_size;
    CHECK(a.parameters.size() == 3 * width + 16);  // the head alone: weight [3, width], bias [3] padded to 16
    CHECK(a.parameters == b.parameters);
    CHECK(test::read_bytes(weights_path(whole)) == test::read_bytes(weights_path(parts)));
    // A whole-model run cannot resume a probe's checkpoint.
    TrainOptions resume = options(parts);
    resume.resume = true;
    resume.freeze_backbone = false;
    std::atomic<bool> stop{false};
    std::ostringstream log;
    CHECK_THROWS_WITH(run_training(resume, stop, log), Catch::Contains("the checkpoint was made with another"));
}

TEST_CASE("train --val DIR: validates on that folder, and other classes are refused naming it", "[train][finetune]") {
    SingleThread one_thread;
    test::TempDir tmp;
    std::atomic<bool> stop{false};
    std::ostringstream log;
    const std::string val_dir = tmp.file("val");
    for (const std::string name : {"diagonal", "left", "top"})
        for (int i = 0; i < 2; ++i) {
            fs::create_directories(val_dir + "/" + name);
            fs::copy_file(kImages + "/" + name + "/" + std::to_string(i) + ".png",
                          val_dir + "/" + name + "/" + std::to_string(i) + ".png");
        }
    TrainOptions o;
    o.data = kImages;
    o.val = val_dir;
    o.out = tmp.file("out");
    o.arch = kData + "/train/tiny_vit.json";
    o.epochs = 1;
    o.batch_size = 8;
    REQUIRE(run_training(o, stop, log) == 0);
    const nlohmann::json settings = read_checkpoint(checkpoint_file(o.out)).state.at("settings");
    CHECK(settings.at("train_images") == 24);  // all of the training folder: no split
    CHECK(settings.at("val_images") == 6);

    fs::rename(val_dir + "/top", val_dir + "/square");
    o.out = tmp.file("out2");
    CHECK_THROWS_WITH(run_training(o, stop, log),
                      Catch::Contains(val_dir + " (--val): its class folders are not the training classes") &&
                          Catch::Contains("not in the training data: 'square'") &&
                          Catch::Contains("training classes missing: 'top'"));
    fs::remove_all(val_dir + "/square");
    CHECK_THROWS_WITH(run_training(o, stop, log), Catch::Contains("training classes missing: 'top'"));

    // IDX files: --val reads the t10k pair of its folder (here the training folder itself).
    auto idx = [](uint8_t dims, const std::vector<uint8_t>& sizes, size_t values, uint8_t value) {
        std::string bytes = {0, 0, 8, static_cast<char>(dims)};
        for (uint8_t n : sizes) bytes += std::string({0, 0, 0, static_cast<char>(n)});
        return bytes + std::string(values, static_cast<char>(value));
    };
    fs::create_directories(tmp.file("idx"));
    test::write_file(tmp.file("idx/train-images-idx3-ubyte"), idx(3, {6, 8, 8}, 6 * 64, 90));
    test::write_file(tmp.file("idx/train-labels-idx1-ubyte"), idx(1, {6}, 0, 0) + std::string("\0\1\2\0\1\2", 6));
    test::write_file(tmp.file("idx/t10k-images-idx3-ubyte"), idx(3, {4, 8, 8}, 4 * 64, 30));
    test::write_file(tmp.file("idx/t10k-labels-idx1-ubyte"), idx(1, {4}, 0, 0) + std::string("\2\1\0\1", 4));
    o.data = o.val = tmp.file("idx");
    o.out = tmp.file("out3");
    o.batch_size = 3;
    REQUIRE(run_training(o, stop, log) == 0);
    const nlohmann::json idx_settings = read_checkpoint(checkpoint_file(o.out)).state.at("settings");
    CHECK(idx_settings.at("train_images") == 6);
    CHECK(idx_settings.at("val_images") == 4);
}
