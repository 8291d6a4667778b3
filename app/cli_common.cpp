#include "cli_common.hpp"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <iostream>

#include "errors.hpp"
#include "runtime/threads.hpp"

namespace vitc::cli {

std::string default_model_dir() {
    if (const char* env = std::getenv("VITC_MODEL"); env && *env) return env;
    return VITC_DEFAULT_MODEL_DIR;
}

void add_model_options(cxxopts::Options& options) {
    options.add_options("Model")
        ("m,model", "model directory (config.json, model.safetensors, optional preprocessor_config.json)",
         cxxopts::value<std::string>()->default_value(default_model_dir()))
        ("t,threads", "threads for inference (default: all cores)", cxxopts::value<int>())
        ("p,precision", "matmul precision: f32; bf16 (f32 accumulation, LayerNorm and softmax statistics); int8 (weights\n      per output channel, inputs per tensor at run time; ViT only)",
         cxxopts::value<std::string>()->default_value("f32"));
}

void add_image_options(cxxopts::Options& options) {
    options.add_options("Images")
        ("max-pixels", "refuse images with more pixels than this (checked in the header, before decoding)",
         cxxopts::value<int64_t>()->default_value(std::to_string(DecodeLimits().max_pixels)));
}

DecodeLimits decode_limits_from(const cxxopts::ParseResult& args) {
    DecodeLimits limits;
    limits.max_pixels = args["max-pixels"].as<int64_t>();
    if (limits.max_pixels < 1) throw Error("--max-pixels must be at least 1");
    return limits;
}

void set_threads_from(const cxxopts::ParseResult& args) {
    if (!args.count("threads")) return;
    const int threads = args["threads"].as<int>();
    if (threads < 1) throw Error("--threads must be at least 1");
    runtime::set_threads(threads);
}

std::unique_ptr<Model> load_model_from(const cxxopts::ParseResult& args) {
    set_threads_from(args);
    return load_model(args["model"].as<std::string>(), parse_precision(args["precision"].as<std::string>()));
}

bool is_inside(const std::string& path, const std::string& folder) {
    namespace fs = std::filesystem;
    std::error_code ec;
    const fs::path p = fs::weakly_canonical(fs::absolute(path), ec), f = fs::weakly_canonical(fs::absolute(folder), ec);
    const auto [fi, pi] = std::mismatch(f.begin(), f.end(), p.begin(), p.end());
    return fi == f.end();
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
