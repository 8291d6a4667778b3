// vitc bench : latency, throughput and achieved GFLOP/s of a model, against the machine's
// measured matmul peak in the same run.
#include <iomanip>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli_common.hpp"
#include "commands.hpp"
#include "errors.hpp"
#include "models/standard_resnets.hpp"
#include "models/standard_vits.hpp"
#include "runtime/matmul_peak.hpp"
#include "tasks/benchmark.hpp"

namespace vitc::cli {

namespace {

std::vector<int> parse_batches(const std::string& text) {
    std::vector<int> batches;
    std::stringstream in(text);
    std::string item;
    while (std::getline(in, item, ',')) {
        try {
            batches.push_back(std::stoi(item));
        } catch (const std::exception&) {
            throw Error("--batch takes sizes separated by commas, e.g. 1,32; found '" + item + "'");
        }
        if (batches.back() < 1 || batches.back() > 4096) throw Error("batch sizes must be in [1, 4096]");
    }
    if (batches.empty()) throw Error("--batch is empty");
    return batches;
}

}  // namespace

int bench_command(int argc, char** argv) {
    cxxopts::Options options("vitc bench",
                             "Benchmark a model: median latency (p10-p90), throughput, achieved GFLOP/s and its\n"
                             "  fraction of a large oneDNN matmul's GFLOP/s measured in the same run (int8: GOP/s),\n"
                             "  and memory: the weights as loaded, each session's activation buffers, and the process's\n"
                             "  peak resident size while that batch size ran.");
    options.add_options()
        ("m,model", "model directory (default: --arch)", cxxopts::value<std::string>())
        ("a,arch", "random-weight standard model: vit-ti16, vit-s16, vit-b16, vit-b32, vit-l16, resnet18, resnet34,\n"
                   "      resnet50",
         cxxopts::value<std::string>()->default_value("vit-b16"))
        ("image-size", "input size for --arch", cxxopts::value<int>()->default_value("224"))
        ("patch-size", "patch size for --arch (default: the architecture's)", cxxopts::value<int>()->default_value("0"))
        ("b,batch", "batch sizes, comma separated", cxxopts::value<std::string>()->default_value("1"))
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

    const double rss_start = resident_mb();
    std::unique_ptr<Model> model;
    std::string name;
    if (args.count("model")) {
        name = args["model"].as<std::string>();
        model = load_model(name, precision);
    } else {
        name = args["arch"].as<std::string>();
        if (name.rfind("resnet", 0) == 0) model = make_standard_resnet(name, precision, args["image-size"].as<int>());
        else model = make_standard_vit(name, precision, args["image-size"].as<int>(), args["patch-size"].as<int>());
    }
    const ModelSummary summary = model->summary();
    const double weights_mb = resident_mb() - rss_start;
    const double peak = args.count("no-peak") ? 0 : runtime::measure_matmul_gflops(precision);

    nlohmann::ordered_json out = {{"model", name},
                                  {"architecture", summary.architecture},
                                  {"precision", precision_name(precision)},
                                  {"parameters", summary.parameters},
                                  {"flops_per_image", summary.flops_per_image},
                                  {"resident_before_loading_mb", rss_start},
                                  {"weights_resident_mb", weights_mb},
                                  {"matmul_peak_gflops", peak},
                                  {"results", nlohmann::json::array()}};
    if (format == "text")
        std::cout << name << " (" << summary.architecture << "), " << precision_name(precision) << ", "
                  << summary.parameters / 1e6 << " M parameters, " << summary.flops_per_image / 1e9
                  << " GFLOP/image\nmatmul peak (2048^3, same run): " << std::fixed << std::setprecision(1) << peak
                  << (precision == Precision::INT8 ? " GOP/s" : " GFLOP/s") << "\nmemory: process before loading " << rss_start << " MiB, weights resident "
                  << weights_mb << " MiB (" << precision_name(precision) << ")\n"
                  << " batch   median ms   p10-p90 ms      images/s   " << (precision == Precision::INT8 ? "  GOP/s" : "GFLOP/s")
                  << "  of peak  buffers MiB  peak RSS MiB\n";
    for (int batch : parse_batches(args["batch"].as<std::string>())) {
        const BenchmarkResult r = benchmark_model(*model, name, batch, iterations, warmup);
        const double fraction = peak > 0 ? r.gflops / peak : 0;
        out["results"].push_back({{"batch", batch},
                                  {"iterations", iterations},
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
        if (format == "text")
            std::cout << std::setw(6) << batch << std::setw(12) << std::setprecision(2) << r.latency_ms_median
                      << std::setw(8) << r.latency_ms_p10 << "-" << std::left << std::setw(8) << r.latency_ms_p90
                      << std::right << std::setw(10) << std::setprecision(1) << r.images_per_second << std::setw(10)
                      << r.gflops << std::setw(8) << std::setprecision(0) << 100 * fraction << "%" << std::setw(13)
                      << std::setprecision(1) << r.buffers_mb << std::setw(14) << r.peak_resident_mb
                      << (r.peak_reset ? "" : " (includes loading: the mark could not be reset)") << "\n";
    }
    if (format == "json") std::cout << out.dump(2) << std::endl;
    return 0;
}

}  // namespace vitc::cli
