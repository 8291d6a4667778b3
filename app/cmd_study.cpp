// vitc study DATA --test DIR --out REPORT_DIR: ViT against CNN as the training set grows.
#include <atomic>
#include <csignal>
#include <iostream>
#include <sstream>

#include "cli_common.hpp"
#include "commands.hpp"
#include "errors.hpp"
#include "tasks/study.hpp"

namespace vitc::cli {

namespace {

std::atomic<bool> stop_requested{false};

// The first Ctrl-C or SIGTERM lets the running training write its checkpoint; a second one kills.
extern "C" void request_study_stop(int signal) {
    stop_requested.store(true);
    std::signal(signal, SIG_DFL);
}

// "a,b,c" -> numbers of at least `minimum`; `what` names them in the error.
std::vector<int64_t> parse_list(const std::string& list, const std::string& option, const std::string& what,
                                int64_t minimum) {
    std::vector<int64_t> sizes;
    std::stringstream s(list);
    for (std::string item; std::getline(s, item, ',');) {
        size_t used = 0;
        int64_t v = 0;
        try {
            v = std::stoll(item, &used);
        } catch (const std::exception&) {
            used = 0;
        }
        if (used != item.size() || item.empty() || v < minimum)
            throw Error(option + " takes " + what + " of at least " + std::to_string(minimum) +
                        ", separated by commas (not '" + item + "')");
        sizes.push_back(v);
    }
    return sizes;
}

}  // namespace

int study_command(int argc, char** argv) {
    cxxopts::Options options(
        "vitc study",
        "Does a ViT or a CNN suit this much data? Trains both on nested, class-balanced subsets of DATA\n"
        "(a labelled folder or the MNIST/Fashion-MNIST IDX files, as vitc train reads), measures each on\n"
        "the test set, and writes REPORT_DIR/report.html and study.json: test accuracy against\n"
        "training-set size, with parameters and training time per point, and where the curves cross.\n"
        "Rerunning the same command continues a stopped study.");
    options.positional_help("DATA --test DIR --out REPORT_DIR");
    options.add_options()
        ("test", "test data: a labelled folder with DATA's classes, or a folder with the t10k IDX files",
         cxxopts::value<std::string>())
        ("o,out", "report folder (report.html, study.json, runs/ with every run's model)", cxxopts::value<std::string>())
        ("sizes", "training-set sizes, comma-separated", cxxopts::value<std::string>()->default_value("600,1800,6000,18000,55000"))
        ("vit", "the ViT: a vitc train preset or a config.json", cxxopts::value<std::string>()->default_value("vit"))
        ("cnn", "the CNN: a vitc train preset or a config.json", cxxopts::value<std::string>()->default_value("resnet"))
        ("steps", "optimiser steps per run, whatever its size (default 2000)", cxxopts::value<int64_t>())
        ("epochs", "epochs per run instead of --steps (equal passes over each subset)", cxxopts::value<int>())
        ("b,batch-size", "images per step", cxxopts::value<int>()->default_value("128"))
        ("lr-vit", "the ViT's peak learning rate", cxxopts::value<float>()->default_value("0.001"))
        ("lr-cnn", "the CNN's peak learning rate", cxxopts::value<float>()->default_value("0.001"))
        ("val-split", "fraction of each subset held out to choose the best epoch", cxxopts::value<float>()->default_value("0.1"))
        ("augment", "augmentation for every run (as vitc train --augment)", cxxopts::value<std::string>()->default_value("crop=2,flip"))
        ("precision", "f32 or bf16 (matmuls and convolutions)", cxxopts::value<std::string>()->default_value("f32"))
        ("patch-sizes", "also train the ViT with each of these patch sizes (e.g. 7,4,2,1; 1: every pixel a token) "
         "on one subset: tokens per image against accuracy and cost", cxxopts::value<std::string>())
        ("patch-sweep-size", "training images for --patch-sizes (default: the smallest of --sizes)",
         cxxopts::value<int64_t>())
        ("seed", "seed of the subsets, the splits and the initial weights", cxxopts::value<uint64_t>()->default_value("0"))
        ("t,threads", "threads (default: all cores)", cxxopts::value<int>())
        ("data", "training data", cxxopts::value<std::string>());
    add_image_options(options);
    options.parse_positional({"data"});
    const auto args = parse_or_help(options, argc, argv);
    if (!args.count("data")) throw Error("no data given (usage: vitc study DATA --test DIR --out REPORT_DIR)");
    if (!args.count("test")) throw Error("--test DIR is required (the images every trained model is measured on)");
    if (!args.count("out")) throw Error("--out REPORT_DIR is required");
    set_threads_from(args);

    StudyOptions o;
    o.data = args["data"].as<std::string>();
    o.test = args["test"].as<std::string>();
    o.out = args["out"].as<std::string>();
    for (const std::string& input : {o.data, o.test})
        if (is_inside(o.out, input)) throw Error("--out " + o.out + " is inside " + input + "; vitc never writes there");
    o.sizes = parse_list(args["sizes"].as<std::string>(), "--sizes", "training-set sizes", 2);
    o.vit = args["vit"].as<std::string>();
    o.cnn = args["cnn"].as<std::string>();
    if (args.count("steps") && args.count("epochs")) throw Error("--steps and --epochs exclude each other");
    if (args.count("epochs")) {
        o.epochs = args["epochs"].as<int>();
        o.steps = 0;
        if (o.epochs < 1) throw Error("--epochs must be at least 1");
    } else if (args.count("steps")) {
        o.steps = args["steps"].as<int64_t>();
        if (o.steps < 1) throw Error("--steps must be at least 1");
    }
    o.batch_size = args["batch-size"].as<int>();
    if (o.batch_size < 1 || o.batch_size > 4096) throw Error("--batch-size must be between 1 and 4096");
    o.lr_vit = args["lr-vit"].as<float>();
    o.lr_cnn = args["lr-cnn"].as<float>();
    o.val_split = args["val-split"].as<float>();
    o.augment = args["augment"].as<std::string>();
    o.precision = parse_precision(args["precision"].as<std::string>());
    if (o.precision == Precision::INT8) throw Error("--precision: training runs in f32 or bf16, not int8");
    o.seed = args["seed"].as<uint64_t>();
    if (args.count("patch-sizes"))
        for (int64_t p : parse_list(args["patch-sizes"].as<std::string>(), "--patch-sizes", "patch sizes", 1)) {
            if (p > 4096) throw Error("--patch-sizes: " + std::to_string(p) + " is not a patch size");
            o.patch_sizes.push_back(static_cast<int>(p));
        }
    if (args.count("patch-sweep-size")) {
        if (o.patch_sizes.empty()) throw Error("--patch-sweep-size needs --patch-sizes");
        o.patch_sweep_size = args["patch-sweep-size"].as<int64_t>();
        if (o.patch_sweep_size < 2) throw Error("--patch-sweep-size must be at least 2 images");
    }
    o.limits = decode_limits_from(args);

    std::signal(SIGINT, request_study_stop);
    std::signal(SIGTERM, request_study_stop);
    const int status = run_study(o, stop_requested, std::cout);
    if (status == 130) std::cout << "study stopped; rerun the same command to continue it" << std::endl;
    return status;
}

}  // namespace vitc::cli
