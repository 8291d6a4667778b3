#include "cli_common.hpp"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <iostream>

#include "errors.hpp"
#include "io/read_file.hpp"
#include "runtime/attention_kernel.hpp"
#include "runtime/threads.hpp"

namespace vitc::cli {

std::string bundled_model_dir(const std::string& name) {
    // An installed vitc (cmake --install) finds the bundled models beside it: bin/../share/vitc/models.
    std::error_code ec;
    const std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe", ec);
    if (!ec) {
        const auto installed = exe.parent_path() / VITC_INSTALLED_MODELS_RELATIVE / name;
        if (std::filesystem::is_directory(installed, ec)) return installed.lexically_normal().string();
    }
    // A binary run from build/: the source tree's models/.
    return (std::filesystem::path(VITC_DEFAULT_MODEL_DIR).parent_path() / name).string();
}

std::string default_model_dir() {
    if (const char* env = std::getenv("VITC_MODEL"); env && *env) return env;
    return bundled_model_dir("fashion-vit");
}

void add_model_options(cxxopts::Options& options) {
    options.add_options("Model")
        ("m,model", "model directory (config.json, model.safetensors, optional preprocessor_config.json)",
         cxxopts::value<std::string>()->default_value(default_model_dir()))
        ("t,threads", "threads for inference (default: all cores)", cxxopts::value<int>())
        ("p,precision", "matmul precision: f32; bf16 (f32 accumulation, LayerNorm and softmax statistics); int8 (weights\n      per output channel, inputs per tensor at run time; ViT only)",
         cxxopts::value<std::string>()->default_value("f32"));
    add_attention_option(options);
    options.add_options("Model")
        ("labels", "file with one label per line, replacing the model's own (as many as it has classes)",
         cxxopts::value<std::string>());
}

void add_attention_option(cxxopts::Options& options) {
    options.add_options("Model")
        ("attention", "ViT attention kernel: full (scores in memory, T^2), tiled (blocks, memory linear in T), or\n"
                      "      auto: full while the scores fit 256 MiB",
         cxxopts::value<std::string>()->default_value("auto"));
}

void set_attention_from(const cxxopts::ParseResult& args) {
    runtime::set_attention_kernel(runtime::parse_attention_kernel(args["attention"].as<std::string>()));
}

void add_image_options(cxxopts::Options& options) {
    options.add_options("Images")
        ("max-pixels", "refuse images with more pixels than this (checked in the header, before decoding),\n"
         "      and any resize of the preprocessing that would make more",
         cxxopts::value<int64_t>()->default_value(std::to_string(DecodeLimits().max_pixels)))
        ("decode-timeout", "seconds one image may take to decode and preprocess; images are decoded in a\n"
         "      child process, stopped after this long and limited to 1 GiB of memory",
         cxxopts::value<double>()->default_value("20"))
        ("strict-input", "refuse images the model's preprocessing would convert (colour to grey, grey to colour,\n"
         "      alpha dropped, aspect ratio changed, upscaled) instead of answering about the converted image");
}

DecodeLimits decode_limits_from(const cxxopts::ParseResult& args) {
    DecodeLimits limits;
    limits.max_pixels = args["max-pixels"].as<int64_t>();
    if (limits.max_pixels < 1) throw Error("--max-pixels must be at least 1");
    limits.timeout_seconds = args["decode-timeout"].as<double>();
    if (!(limits.timeout_seconds > 0 && limits.timeout_seconds <= 24 * 3600))
        throw Error("--decode-timeout must be a number of seconds in (0, 86400]");
    limits.worker_executable = "/proc/self/exe";  // this program, started as the image loader
    limits.strict_input = args.count("strict-input") > 0;
    return limits;
}

void set_threads_from(const cxxopts::ParseResult& args) {
    if (!args.count("threads")) return;
    const int threads = args["threads"].as<int>();
    // OpenMP makes every thread up front, each with its own stack: 65,535 of them end the process.
    constexpr int kMaxThreads = 256;
    if (threads < 1 || threads > kMaxThreads)
        throw Error("--threads must be between 1 and " + std::to_string(kMaxThreads) + ", not " + std::to_string(threads));
    runtime::set_threads(threads);
}

std::unique_ptr<Model> load_model_from(const cxxopts::ParseResult& args) {
    set_threads_from(args);
    set_attention_from(args);
    auto model = load_model(args["model"].as<std::string>(), parse_precision(args["precision"].as<std::string>()));
    if (args.count("labels")) {
        const std::string file = args["labels"].as<std::string>();
        std::vector<std::string> labels = read_labels_file(file);
        if (labels.size() != model->labels().size())
            throw Error(file + ": " + std::to_string(labels.size()) + " labels, but the model has " +
                        std::to_string(model->labels().size()) + " classes");
        model->set_labels(std::move(labels));
    }
    return model;
}

bool is_inside(const std::string& path, const std::string& folder) {
    namespace fs = std::filesystem;
    std::error_code ec;
    const fs::path p = fs::weakly_canonical(fs::absolute(path), ec), f = fs::weakly_canonical(fs::absolute(folder), ec);
    const auto [fi, pi] = std::mismatch(f.begin(), f.end(), p.begin(), p.end());
    return fi == f.end();
}

std::vector<std::string> read_labels_file(const std::string& path) {
    std::string text;
    try {
        text = read_regular_file(path, 64 << 20, "labels file");
    } catch (const FileError& e) {
        throw Error(e.what());
    }
    std::vector<std::string> labels;
    size_t start = 0;
    while (start < text.size()) {
        size_t end = text.find('\n', start);
        if (end == std::string::npos) end = text.size();
        std::string label = text.substr(start, end - start);
        if (!label.empty() && label.back() == '\r') label.pop_back();
        if (label.empty() || label.find('\0') != std::string::npos)
            throw Error(path + ": line " + std::to_string(labels.size() + 1) + " is empty or holds a NUL; one label per line");
        labels.push_back(std::move(label));
        start = end + 1;
    }
    if (labels.empty()) throw Error(path + ": no labels (one per line)");
    return labels;
}

cxxopts::ParseResult parse_or_help(cxxopts::Options& options, int argc, char** argv) {
    options.add_options()("h,help", "show this help");
    auto args = options.parse(argc, argv);
    if (args.count("help")) {
        std::cout << options.help() << std::endl;
        std::exit(0);
    }
    return args;
}

}  // namespace vitc::cli
