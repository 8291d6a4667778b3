#include "tasks/study.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <memory>
#include <ostream>
#include <random>
#include <sstream>

#include "errors.hpp"
#include "explain/attention_distance.hpp"
#include "explain/data_uri.hpp"
#include "explain/explainer.hpp"
#include "models/resnet.hpp"
#include "models/vit.hpp"
#include "io/json_parse.hpp"
#include "models/model.hpp"
#include "tasks/atomic_file.hpp"
#include "tasks/study_report.hpp"
#include "train/augment.hpp"
#include "train/dataset.hpp"
#include "train/train_models.hpp"
#include "train/trainer.hpp"
#include "train/validation_folder.hpp"
#include "train/vit_train.hpp"

namespace vitc {

namespace fs = std::filesystem;

nlohmann::json StudyPoint::to_json() const {
    return {{"family", family},           {"size", size},
            {"parameters", parameters},   {"epochs", epochs},
            {"steps", steps},             {"train_seconds", train_seconds},
            {"val_accuracy", val_accuracy}, {"test_accuracy", test_accuracy},
            {"test_images", test_images}, {"patch_size", patch_size},
            {"tokens", tokens}};
}

StudyPoint StudyPoint::from_json(const nlohmann::json& j) {
    StudyPoint p;
    p.family = j.at("family").get<std::string>();
    p.size = j.at("size").get<int64_t>();
    p.parameters = j.at("parameters").get<int64_t>();
    p.epochs = j.at("epochs").get<int>();
    p.steps = j.at("steps").get<int64_t>();
    p.train_seconds = j.at("train_seconds").get<double>();
    p.val_accuracy = j.at("val_accuracy").get<double>();
    p.test_accuracy = j.at("test_accuracy").get<double>();
    p.test_images = j.at("test_images").get<int64_t>();
    p.patch_size = j.value("patch_size", 0);  // absent in results written before the sweep existed
    p.tokens = j.value("tokens", int64_t{0});
    return p;
}

namespace {

// The images of each class in one seeded order. A subset of n images takes the first n/K of
// every class (the first n mod K classes one more), so each subset holds every smaller one and
// the classes stay balanced.
std::vector<std::vector<uint32_t>> images_by_class(const train::ImageDataset& data, uint64_t seed) {
    std::vector<std::vector<uint32_t>> by_class(data.class_names.size());
    for (uint32_t i = 0; i < data.size(); ++i) by_class[data.labels[i]].push_back(i);
    std::mt19937_64 rng(seed);
    for (auto& images : by_class) std::shuffle(images.begin(), images.end(), rng);
    return by_class;
}

std::vector<uint32_t> balanced_subset(const std::vector<std::vector<uint32_t>>& by_class,
                                      const std::vector<std::string>& names, int64_t size) {
    const auto classes = static_cast<int64_t>(by_class.size());
    std::vector<uint32_t> subset;
    for (int64_t c = 0; c < classes; ++c) {
        const int64_t take = size / classes + (c < size % classes ? 1 : 0);
        if (take > static_cast<int64_t>(by_class[c].size()))
            throw Error("--sizes " + std::to_string(size) + " needs " + std::to_string(take) + " images of class '" +
                        names[c] + "', which has " + std::to_string(by_class[c].size()));
        subset.insert(subset.end(), by_class[c].begin(), by_class[c].begin() + take);
    }
    return subset;
}

// Test image i as the model's preprocessing makes it: rescale, then (x - mean) / std per channel.
// (The test images are already at the model's input size: both were decoded at the training size.)
void normalise(const train::ImageDataset& test, size_t i, const Preprocessing& p, float* out) {
    const size_t plane = static_cast<size_t>(test.height) * test.width;
    for (int c = 0; c < test.channels; ++c) {
        const uint8_t* from = test.image(i) + c * plane;
        const float scale = p.do_rescale ? p.rescale_factor : 1.0f;
        const float mean = p.do_normalize ? p.mean[c] : 0.0f, stddev = p.do_normalize ? p.std[c] : 1.0f;
        for (size_t k = 0; k < plane; ++k) out[c * plane + k] = (from[k] * scale - mean) / stddev;
    }
}

// "A CNN is a restricted self-attention": the trained ViT's mean attention distance per head by
// depth over (up to) the first 500 test images, next to the trained CNN's receptive fields.
AttentionDistanceReport measure_attention_distance(const std::string& vit_dir, const std::string& cnn_dir,
                                                   const train::ImageDataset& test) {
    const std::unique_ptr<Model> vit = load_model(vit_dir), cnn = load_model(cnn_dir);
    const auto* vit_model = dynamic_cast<const ViTModel*>(vit.get());
    if (!vit_model) throw Error(vit_dir + ": --vit is not a ViT");
    AttentionDistanceReport report =
        attention_distance_models(*vit_model, vit_dir, dynamic_cast<const ResNetModel*>(cnn.get()), cnn_dir);
    Explainer explainer(*vit);
    AttentionDistanceMeter meter(explainer.layers(), explainer.heads(), report.grid);
    std::vector<float> input(test.image_bytes());
    for (size_t i = 0; i < std::min<size_t>(500, test.size()); ++i) {
        normalise(test, i, vit->preprocessing(), input.data());
        explainer.explain(input.data());
        meter.add(explainer.attention());
        report.images.push_back("test image " + std::to_string(i));
    }
    report.distance = meter.distance();
    report.class_token_share = meter.class_token_share();
    return report;
}

// Accuracy of a model directory on the test images, through vitc's inference path (the model
// loaded as classify loads it, its own preprocessing's rescale and normalisation).
double test_accuracy(const std::string& model_dir, const train::ImageDataset& test, int64_t* parameters) {
    const std::unique_ptr<Model> model = load_model(model_dir);
    *parameters = model->summary().parameters;
    const Preprocessing& p = model->preprocessing();
    if (p.output_height() != test.height || p.output_width() != test.width || model->num_channels() != test.channels)
        throw Error(model_dir + ": the model takes " + std::to_string(p.output_width()) + "x" +
                    std::to_string(p.output_height()) + " images, the test images are " + std::to_string(test.width) +
                    "x" + std::to_string(test.height));
    constexpr int kBatch = 256;
    const size_t image = test.image_bytes();
    const auto classes = static_cast<int64_t>(model->labels().size());
    std::vector<float> images(kBatch * image), logits(kBatch * classes);
    std::unique_ptr<Session> session;
    int session_batch = 0;
    int64_t correct = 0;
    for (size_t start = 0; start < test.size(); start += kBatch) {
        const int n = static_cast<int>(std::min<size_t>(kBatch, test.size() - start));
        if (n != session_batch) session = model->create_session(n, test.height, test.width), session_batch = n;
        for (int b = 0; b < n; ++b) normalise(test, start + b, p, images.data() + b * image);
        session->run(images.data(), logits.data());
        for (int b = 0; b < n; ++b) {
            const float* row = logits.data() + b * classes;
            correct += std::max_element(row, row + classes) - row == test.labels[start + b];
        }
    }
    return static_cast<double>(correct) / static_cast<double>(test.size());
}

// The epochs a run gets: `epochs`, or enough to make `steps` optimiser steps.
int run_epochs(const StudyOptions& o, int64_t train_images, int64_t* steps) {
    const int64_t batch = std::min<int64_t>(o.batch_size, train_images);
    const int64_t per_epoch = train_images / batch;
    const int epochs = o.epochs ? o.epochs : static_cast<int>(std::max<int64_t>(1, (o.steps + per_epoch - 1) / per_epoch));
    *steps = per_epoch * epochs;
    return epochs;
}

void write_json(const std::string& path, const nlohmann::json& j) {
    AtomicFile file(path);
    file.stream() << j.dump(2) << "\n";
    file.commit();
}

}  // namespace

std::vector<std::string> study_findings(const std::vector<StudyPoint>& points) {
    // Sizes at which both families have a point, in increasing order, with the gap ViT - CNN.
    std::vector<std::pair<int64_t, double>> gaps;
    for (const StudyPoint& v : points) {
        if (v.family != "vit") continue;
        for (const StudyPoint& c : points)
            if (c.family == "cnn" && c.size == v.size) gaps.emplace_back(v.size, v.test_accuracy - c.test_accuracy);
    }
    std::sort(gaps.begin(), gaps.end());
    std::vector<std::string> findings;
    if (gaps.empty()) return {"No size has both a ViT and a CNN result yet."};
    const auto points_text = [](double gap) {
        std::ostringstream s;
        s << std::fixed << std::setprecision(1) << std::abs(gap) * 100.0 << " points";
        return s.str();
    };
    std::string list;
    for (const auto& [size, gap] : gaps)
        list += (list.empty() ? "" : ", ") + std::to_string(size) + ": " + (gap >= 0 ? "+" : "-") + points_text(gap);
    const bool vit_always = std::all_of(gaps.begin(), gaps.end(), [](const auto& g) { return g.second > 0; });
    const bool cnn_always = std::all_of(gaps.begin(), gaps.end(), [](const auto& g) { return g.second < 0; });
    if (cnn_always)
        findings.push_back("The CNN is ahead at every size measured; the curves do not cross. ViT minus CNN, in "
                           "test-accuracy points, by training images: " + list + ".");
    else if (vit_always)
        findings.push_back("The ViT is ahead at every size measured; the curves do not cross. ViT minus CNN, in "
                           "test-accuracy points, by training images: " + list + ".");
    else {
        for (size_t i = 1; i < gaps.size(); ++i)
            if ((gaps[i - 1].second < 0) != (gaps[i].second < 0))
                findings.push_back("The curves cross between " + std::to_string(gaps[i - 1].first) + " and " +
                                   std::to_string(gaps[i].first) + " training images: " +
                                   (gaps[i].second >= 0 ? "the ViT overtakes the CNN" : "the CNN overtakes the ViT") + ".");
        findings.push_back("ViT minus CNN, in test-accuracy points, by training images: " + list + ".");
    }
    return findings;
}

int run_study(const StudyOptions& o, const std::atomic<bool>& stop, std::ostream& out) {
    if (o.sizes.empty()) throw Error("--sizes: give at least one training-set size");
    for (int64_t s : o.sizes)
        if (s < 2) throw Error("--sizes: every size must be at least 2 images");
    if (o.steps < 1 && o.epochs < 1) throw Error("give --steps or --epochs (at least 1)");
    std::vector<int64_t> sizes = o.sizes;
    std::sort(sizes.begin(), sizes.end());
    sizes.erase(std::unique(sizes.begin(), sizes.end()), sizes.end());

    // Both families read the data at the ViT config's size when it fixes one, else the data's own.
    const train::ArchitectureInput input = train::architecture_input(o.vit);
    auto data = std::make_shared<train::ImageDataset>(
        train::load_dataset(o.data, input.channels, input.height, input.width, o.limits));
    train::ImageDataset test;  // the training header, then the test images decoded the same way
    test.channels = data->channels, test.height = data->height, test.width = data->width;
    test.class_names = data->class_names;
    train::append_validation_folder(test, o.test, o.limits);
    if (test.size() == 0) throw Error(o.test + ": no test images");
    out << "study: " << data->size() << " training images, " << test.size() << " test images of " << data->width << "x"
        << data->height << "x" << data->channels << ", " << data->class_names.size() << " classes; sizes";
    for (int64_t s : sizes) out << " " << s;
    out << std::endl;
    if (sizes.back() > static_cast<int64_t>(data->size()))
        throw Error("--sizes " + std::to_string(sizes.back()) + " is more than the " + std::to_string(data->size()) +
                    " training images");

    // A patch size the images refuse is an error now, not after hours of the main curves.
    for (int patch : o.patch_sizes) train::architecture_with_patch_size(o.vit, *data, patch);

    std::error_code ec;
    fs::create_directories(fs::path(o.out) / "runs", ec);
    if (ec) throw Error(o.out + ": cannot create: " + ec.message());
    nlohmann::json settings = {
        {"data", o.data},        {"test", o.test},   {"sizes", sizes},          {"vit", o.vit},
        {"cnn", o.cnn},          {"steps", o.steps}, {"epochs", o.epochs},      {"batch_size", o.batch_size},
        {"lr_vit", o.lr_vit},    {"lr_cnn", o.lr_cnn}, {"val_split", o.val_split}, {"augment", o.augment},
        {"precision", precision_name(o.precision)}, {"seed", o.seed}};
    if (!o.patch_sizes.empty()) {  // only then, so that studies made before the sweep existed continue
        settings["patch_sizes"] = o.patch_sizes;
        settings["patch_sweep_size"] = o.patch_sweep_size ? o.patch_sweep_size : sizes.front();
    }
    const std::string settings_file = (fs::path(o.out) / "settings.json").string();
    if (fs::exists(settings_file, ec)) {
        const nlohmann::json earlier = read_json_file(settings_file);
        if (earlier != nlohmann::json::parse(settings.dump()))
            throw Error(o.out + " holds a study with other settings (" + settings_file +
                        "); choose another --out, or rerun with the same options to continue it");
        out << "continuing the study in " << o.out << std::endl;
    } else {
        write_json(settings_file, settings);
    }

    const auto by_class = images_by_class(*data, o.seed);
    // Trains (or reads back) one point: `family` with --arch `arch` on `subset` (`size` images).
    // Returns false when stopped.
    const auto run_point = [&](const std::string& name, const std::string& family, const std::string& arch,
                               const std::vector<uint32_t>& subset, int64_t size, StudyPoint& p) {
        const fs::path run = fs::path(o.out) / "runs" / name;
        const std::string result_file = (run / "result.json").string();
        if (fs::exists(result_file, ec)) {
            p = StudyPoint::from_json(read_json_file(result_file));
            out << name << ": done earlier, test accuracy " << std::fixed << std::setprecision(2)
                << 100.0 * p.test_accuracy << "%" << std::endl;
            return true;
        }
        train::TrainOptions t;
        t.data = o.data;
        t.dataset = data;
        t.subset = subset;
        t.out = run.string();
        t.arch = arch;
        t.batch_size = o.batch_size;
        t.optimizer.lr = family == "vit" ? o.lr_vit : o.lr_cnn;
        t.val_split = o.val_split;
        t.augment = train::parse_augmentation(o.augment);
        t.precision = o.precision;
        t.seed = o.seed;
        t.limits = o.limits;
        const auto val_images = static_cast<int64_t>(std::floor(o.val_split * size));
        int64_t steps = 0;
        t.epochs = run_epochs(o, size - val_images, &steps);
        t.warmup_epochs = std::min(1.0f, 0.1f * t.epochs);
        t.resume = fs::exists(train::checkpoint_file(t.out), ec);
        out << "== " << name << ": " << size << " images, " << t.epochs << " epochs (" << steps << " steps)"
            << (t.resume ? ", resuming" : "") << std::endl;
        if (train::run_training(t, stop, out) == 130) return false;

        p.family = family;
        p.size = size;
        p.epochs = t.epochs;
        p.steps = steps;
        std::ifstream log(train::train_log_file(t.out));
        for (std::string line; std::getline(log, line);) {
            const nlohmann::json j = nlohmann::json::parse(line);
            p.train_seconds += j.at("seconds").get<double>();
            if (j.at("val_accuracy").is_number())
                p.val_accuracy = std::max(p.val_accuracy, j.at("val_accuracy").get<double>());
        }
        p.test_accuracy = test_accuracy(t.out, test, &p.parameters);
        p.test_images = static_cast<int64_t>(test.size());
        if (p.patch_size) {  // the sweep: the patch size and tokens of the model it wrote
            const train::ViTArchitecture a = train::read_architecture(arch);
            p.tokens = a.tokens();
        }
        write_json(result_file, p.to_json());
        out << name << ": test accuracy " << std::fixed << std::setprecision(2) << 100.0 * p.test_accuracy << "% on "
            << test.size() << " images (" << std::setprecision(0) << p.train_seconds << " s training)" << std::endl;
        return true;
    };

    std::vector<StudyPoint> points;
    for (int64_t size : sizes) {
        const std::vector<uint32_t> subset = balanced_subset(by_class, data->class_names, size);
        for (const std::string family : {"cnn", "vit"}) {
            StudyPoint p;
            if (!run_point(family + "-" + std::to_string(size), family, family == "vit" ? o.vit : o.cnn, subset, size, p))
                return 130;
            points.push_back(p);
        }
    }

    // Tokens per image: the same ViT with each patch size, on one subset.
    std::vector<StudyPoint> sweep;
    if (!o.patch_sizes.empty()) {
        const int64_t size = settings.at("patch_sweep_size").get<int64_t>();
        const std::vector<uint32_t> subset = balanced_subset(by_class, data->class_names, size);
        for (int patch : o.patch_sizes) {
            const std::string name = "vit-p" + std::to_string(patch) + "-" + std::to_string(size);
            const std::string arch = (fs::path(o.out) / "runs" / (name + ".arch.json")).string();
            if (!fs::exists(arch, ec))
                write_json(arch, train::architecture_with_patch_size(o.vit, *data, patch));
            StudyPoint p;
            p.patch_size = patch;
            if (!run_point(name, "vit", arch, subset, size, p)) return 130;
            sweep.push_back(p);
        }
    }

    const std::vector<std::string> findings = study_findings(points);
    nlohmann::json points_json = nlohmann::json::array();
    for (const StudyPoint& p : points) points_json.push_back(p.to_json());
    nlohmann::json study = {{"settings", settings}, {"classes", data->class_names}, {"points", points_json}, {"findings", findings}};
    if (!sweep.empty()) {
        nlohmann::json sweep_json = nlohmann::json::array();
        for (const StudyPoint& p : sweep) sweep_json.push_back(p.to_json());
        study["patch_sweep"] = sweep_json;
    }
    // The largest ViT's attention distances against the largest CNN's receptive field.
    const std::string largest = std::to_string(sizes.back());
    const AttentionDistanceReport distance =
        measure_attention_distance((fs::path(o.out) / "runs" / ("vit-" + largest)).string(),
                                   (fs::path(o.out) / "runs" / ("cnn-" + largest)).string(), test);
    const cv::Mat distance_plot = attention_distance_plot(distance);
    const std::vector<unsigned char> png = encode_png(distance_plot);
    {
        AtomicFile file((fs::path(o.out) / "attention_distance.png").string());
        file.stream().write(reinterpret_cast<const char*>(png.data()), static_cast<std::streamsize>(png.size()));
        file.commit();
    }
    study["attention_distance"] = to_json(distance);
    write_json((fs::path(o.out) / "study.json").string(), study);
    write_study_report((fs::path(o.out) / "report.html").string(), settings, points, findings, distance, distance_plot,
                       sweep);
    for (const std::string& f : findings) out << f << "\n";
    out << "wrote " << (fs::path(o.out) / "report.html").string() << " and study.json" << std::endl;
    return 0;
}

}  // namespace vitc
