#pragma once
// Options and helpers shared by the subcommands.
#include <cxxopts.hpp>
#include <memory>
#include <string>
#include <vector>

#include "image/decode.hpp"
#include "models/model.hpp"

namespace vitc::cli {

// Exit statuses: 0 success, 1 some input failed (e.g. an image in a batch), 2 usage or model error.
constexpr int kExitInputFailed = 1;
constexpr int kExitUsage = 2;

// --model DIR, --threads N, --precision and --attention.
void add_model_options(cxxopts::Options& options);
// --attention auto|full|tiled (part of the model options), and applying it.
void add_attention_option(cxxopts::Options& options);
void set_attention_from(const cxxopts::ParseResult& args);
// Loads --model (default: the bundled model, or $VITC_MODEL) and applies --threads and --attention.
std::unique_ptr<Model> load_model_from(const cxxopts::ParseResult& args);
// Applies --threads (checked to be at least 1) when given.
void set_threads_from(const cxxopts::ParseResult& args);
std::string default_model_dir();
// A model shipped in models/ (fashion-vit, fashion-cnn), installed or in the source tree.
std::string bundled_model_dir(const std::string& name);

// --max-pixels: images declaring more pixels are refused before decoding.
void add_image_options(cxxopts::Options& options);
DecodeLimits decode_limits_from(const cxxopts::ParseResult& args);

// True when `path` is `folder` or lies below it (symbolic links resolved): vitc never writes
// into an input folder.
bool is_inside(const std::string& path, const std::string& folder);

// Labels, one per line (a trailing newline and CRs are dropped; an empty line is an error).
std::vector<std::string> read_labels_file(const std::string& path);

// Parses argv, printing --help and exiting with 0 when asked.
cxxopts::ParseResult parse_or_help(cxxopts::Options& options, int argc, char** argv);

}  // namespace vitc::cli
