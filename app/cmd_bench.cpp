// vitc bench : latency, throughput and achieved GFLOP/s of a model, against the machine's
// measured matmul peak in the same run.
#include <cmath>
#include <iomanip>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli_common.hpp"
#include "commands.hpp"
#include "errors.hpp"
#include "models/standard_resnets.hpp"
#include "models/standard_vits.hpp"
#include "runtime/attention_kernel.hpp"
#include "runtime/matmul_peak.hpp"
#include "tasks/benchmark.hpp"

namespace vitc::cli {

namespace {

std::vector<std::string> split_list(const std::string& text, const std::string& option) {
    std::vector<std::string> items;
    std::stringstream in(text);
    std::string item;
    while (std::getline(in, item, ',')) items.push_back(item);
    if (items.empty()) throw Error(option + " is empty");
    return items;
}

std::vector<int> parse_batches(const std::string& text) {
    std::vector<int> batches;
    for (const std::string& item : split_list(text, "--batch")) {
        try {
            batches.push_back(std::stoi(item));
        } catch (const std::exception&) {
            throw Error("--batch takes sizes separated by commas, e.g. 1,32; found '" + item + "'");
        }
        if (batches.back() < 1 || batches.back() > 4096) throw Error("batch sizes must be in [1, 4096]");
    }
    return batches;
}

// --tokens 784,3136: the image side for each count of patch tokens, a square grid of patches.
std::vector<int> image_sizes_for_tokens(const std::string& text, int patch) {
    std::vector<int> sizes;
    for (const std::string& item : split_list(text, "--tokens")) {
        int64_t tokens = 0;
        try {
            tokens = std::stoll(item);
        } catch (const std::exception&) {
            throw Error("--tokens takes counts separated by commas, e.g. 784,3136; found '" + item + "'");
        }
        const auto side = static_cast<int64_t>(std::llround(std::sqrt(static_cast<double>(tokens))));
        if (tokens < 1 || side * side != tokens || side * patch > 8192)
            throw Error("--tokens: " + item + " is not a square grid of patches (e.g. 784 = 28 x 28) of at most 8192 pixels a side");
        sizes.push_back(static_cast<int>(side * patch));
    }
    return sizes;
}

}  // namespace

int bench_command(int argc, char** argv) {
    cxxopts::Options options("vitc bench",
                             "Benchmark a model: median latency (p10-p90), throughput, achieved GFLOP/s and its\n"
                             "  fraction of a large oneDNN matmul's GFLOP/s measured in the same run (int8: GOP/s),\n"
                             "  and memory: the weights as loaded, each session's activation buffers, and the process's\n"
                             "  peak resident size while that batch size ran. --tokens and --attention sweep token\n"
                             "  counts and attention kernels; a run that would not fit in memory is reported as skipped.");
    options.add_options()
        ("m,model", "model directory (default: --arch)", cxxopts::value<std::string>())
        ("a,arch", "random-weight standard model: vit-ti16, vit-s16, vit-b16, vit-b32, vit-l16, resnet18, resnet34,\n"
                   "      resnet50",
         cxxopts::value<std::string>()->default_value("vit-b16"))
        ("image-size", "input size for --arch", cxxopts::value<int>()->default_value("224"))
        ("patch-size", "patch size for --arch (default: the architecture's)", cxxopts::value<int>()->default_value("0"))
        ("tokens", "instead of --image-size: patch tokens per image, comma separated, each a square grid (e.g.\n"
                   "      784,3136,12544,50176 with --patch-size 1: 28x28 to 224x224 pixels, a token per pixel)",
         cxxopts::value<std::string>())
        ("attention", "ViT attention kernels, comma separated, each run in turn: auto, full, tiled",
         cxxopts::value<std::string>()->default_value("auto"))
        ("b,batch-size", "batch sizes, comma separated", cxxopts::value<std::string>()->default_value("1"))
        ("p,precision", "f32, bf16 or int8", cxxopts::value<std::string>()->default_value("f32"))
        ("t,threads", "threads (default: all cores)", cxxopts::value<int>())
        ("n,iterations", "timed runs per batch size", cxxopts::value<int>()->default_value("20"))
        ("warmup", "untimed runs first", cxxopts::value<int>()->default_value("3"))
        ("no-peak", "skip measuring the matmul peak")
        ("f,format", "text or json", cxxopts::value<std::string>()->default_value("text"));
    const auto args = parse_or_help(options, argc, argv);
    const std::string format = args["format"].as<std::string>();
    if (format != "text" && format != "json") throw Error("--format must be text or json");
    const int iterations = args["iterations"].as<int>(), warmup = args["warmup"].as<int>();
    if (iterations < 1 || warmup < 0) throw Error("--iterations must be at least 1 and --warmup at least 0");
    set_threads_from(args);
    const Precision precision = parse_precision(args["precision"].as<std::string>());
    std::vector<runtime::AttentionKernel> kernels;
    for (const std::string& name : split_list(args["attention"].as<std::string>(), "--attention"))
        kernels.push_back(runtime::parse_attention_kernel(name));
    const std::vector<int> batches = parse_batches(args["batch-size"].as<std::string>());
    const int patch_size = args["patch-size"].as<int>();
    std::vector<int> image_sizes{args["image-size"].as<int>()};
    if (args.count("tokens")) {
        if (args.count("model")) throw Error("--tokens is for --arch; a model directory has its own input size");
        if (patch_size < 1) throw Error("--tokens needs --patch-size (the image side is sqrt(tokens) x patch)");
        image_sizes = image_sizes_for_tokens(args["tokens"].as<std::string>(), patch_size);
    }
    const std::string name = args.count("model") ? args["model"].as<std::string>() : args["arch"].as<std::string>();
    const double peak = args.count("no-peak") ? 0 : runtime::measure_matmul_gflops(precision);
    const char* unit = precision == Precision::INT8 ? "GOP/s" : "GFLOP/s";

    nlohmann::ordered_json out = {{"model", name}, {"precision", precision_name(precision)}, {"matmul_peak_gflops", peak}};
    if (format == "text")
        std::cout << "matmul peak (2048^3, same run): " << std::fixed << std::setprecision(1) << peak << " " << unit << "\n";
    for (int image_size : image_sizes) {
        const double rss_start = resident_mb();
        std::unique_ptr<Model> model;
        if (args.count("model")) model = load_model(name, precision);
        else if (name.rfind("resnet", 0) == 0) model = make_standard_resnet(name, precision, image_size);
        else model = make_standard_vit(name, precision, image_size, patch_size);
        const ModelSummary summary = model->summary();
        const double weights_mb = resident_mb() - rss_start;
        const auto* vit = dynamic_cast<const ViTModel*>(model.get());
        const int64_t tokens = vit ? static_cast<int64_t>(model->preprocessing().output_height() / vit->config().patch_size) *
                                         (model->preprocessing().output_width() / vit->config().patch_size) +
                                         (vit->has_class_token() ? 1 : 0)
                                   : 0;
        // One object per model size; its "results" hold a row per (kernel, batch).
        nlohmann::ordered_json run = {{"architecture", summary.architecture},
                                      {"image_size", model->preprocessing().output_height()},
                                      {"tokens", tokens},
                                      {"parameters", summary.parameters},
                                      {"flops_per_image", summary.flops_per_image},
                                      {"resident_before_loading_mb", rss_start},
                                      {"weights_resident_mb", weights_mb},
                                      {"results", nlohmann::json::array()}};
        if (format == "text")
            std::cout << "\n" << name << " (" << summary.architecture << "), " << precision_name(precision) << ", "
                      << std::setprecision(2) << summary.parameters / 1e6 << " M parameters, " << summary.flops_per_image / 1e9
                      << " GFLOP/image" << (vit ? ", " + std::to_string(tokens) + " tokens" : "") << "\nmemory: process before loading "
                      << std::setprecision(1) << rss_start << " MiB, weights resident " << weights_mb << " MiB ("
                      << precision_name(precision) << ")\n"
                      << (vit ? "attention " : "") << " batch   median ms   p10-p90 ms      images/s   "
                      << (precision == Precision::INT8 ? "  GOP/s" : "GFLOP/s") << "  of peak  buffers MiB  peak RSS MiB\n";
        for (runtime::AttentionKernel requested : vit ? kernels : std::vector<runtime::AttentionKernel>{kernels.front()}) {
            runtime::set_attention_kernel(requested);
            for (int batch : batches) {
                const std::string kernel =
                    vit ? runtime::attention_kernel_name(runtime::choose_attention_kernel(requested, batch, vit->config().num_heads, tokens))
                        : "";
                BenchmarkResult r;
                try {
                    r = benchmark_model(*model, name, batch, iterations, warmup);
                } catch (const Error& e) {  // e.g. the full kernel's scores would not fit in memory
                    run["results"].push_back({{"batch", batch}, {"attention", kernel}, {"skipped", e.what()}});
                    if (format == "text")
                        std::cout << (vit ? std::string(std::max<size_t>(1, 10 - kernel.size()), ' ') + kernel : "") << std::setw(6)
                                  << batch << "  skipped: " << e.what() << "\n";
                    continue;
                }
                const double fraction = peak > 0 ? r.gflops / peak : 0;
                nlohmann::ordered_json row = {{"batch", batch}};
                if (vit) row["attention"] = kernel;
                row.update({{"iterations", iterations},
                            {"latency_ms_median", r.latency_ms_median},
                            {"latency_ms_p10", r.latency_ms_p10},
                            {"latency_ms_p90", r.latency_ms_p90},
                            {"images_per_second", r.images_per_second},
                            {"gflops", r.gflops},
                            {"fraction_of_peak", fraction},
                            {"session_setup_ms", r.session_setup_ms},
                            {"buffers_mb", r.buffers_mb},
                            {"peak_resident_mb", r.peak_resident_mb},
                            {"peak_excludes_loading", r.peak_reset}});
                run["results"].push_back(row);
                if (format == "text")
                    std::cout << (vit ? std::string(std::max<size_t>(1, 10 - kernel.size()), ' ') + kernel : "")
                              << std::setw(6) << batch << std::setw(12) << std::setprecision(2) << r.latency_ms_median
                              << std::setw(8) << r.latency_ms_p10 << "-" << std::left << std::setw(8) << r.latency_ms_p90
                              << std::right << std::setw(10) << std::setprecision(1) << r.images_per_second << std::setw(10)
                              << r.gflops << std::setw(8) << std::setprecision(0) << 100 * fraction << "%" << std::setw(13)
                              << std::setprecision(1) << r.buffers_mb << std::setw(14) << r.peak_resident_mb
                              << (r.peak_reset ? "" : " (includes loading: the mark could not be reset)") << "\n";
            }
        }
        out["runs"].push_back(run);
    }
    if (image_sizes.size() == 1) {  // one model: its fields at the top, as before sweeps existed
        const nlohmann::ordered_json run = out["runs"][0];
        out.erase("runs");
        out.update(run);
    }
    if (format == "json") std::cout << out.dump(2) << std::endl;
    return 0;
}

}  // namespace vitc::cli
