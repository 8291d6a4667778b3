// vitc compare IMAGE|DIR : a ViT and a CNN on the same images, their accuracy and their cost.
#include <algorithm>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli_common.hpp"
#include "commands.hpp"
#include "errors.hpp"
#include "io/printable.hpp"
#include "tasks/compare.hpp"
#include "tasks/compare_html.hpp"

namespace vitc::cli {

namespace fs = std::filesystem;

namespace {


}  // namespace

int compare_command(int argc, char** argv) {
    cxxopts::Options options("vitc compare",
                             "Run a ViT and a CNN on the same image or folder: each one's top-1 and whether they\n"
                             "  agree; on a labelled folder (subfolders named after the labels) top-1/top-5,\n"
                             "  per-class accuracy, confusion matrices and the images only one gets right; and\n"
                             "  parameters, FLOPs, batch-1 latency and batched throughput of both.");
    options.positional_help("IMAGE|DIR");
    add_image_options(options);
    options.add_options()
        ("vit", "first model directory", cxxopts::value<std::string>()->default_value(bundled_model_dir("fashion-vit")))
        ("cnn", "second model directory", cxxopts::value<std::string>()->default_value(bundled_model_dir("fashion-cnn")))
        ("o,out", "also write DIR/report.html: one self-contained page with charts and explanation pictures",
         cxxopts::value<std::string>())
        ("f,format", "text or json", cxxopts::value<std::string>()->default_value("text"))
        ("b,batch-size", "images per forward pass", cxxopts::value<int>()->default_value("32"))
        ("r,recursive", "descend into every subfolder")
        ("t,threads", "threads for inference (default: all cores)", cxxopts::value<int>())
        ("vit-precision", "the first model's precision: f32, bf16 or int8", cxxopts::value<std::string>()->default_value("f32"))
        ("cnn-precision", "the second model's precision: f32 or bf16", cxxopts::value<std::string>()->default_value("f32"))
        ("input", "image or folder", cxxopts::value<std::string>());
    options.parse_positional({"input"});
    const auto args = parse_or_help(options, argc, argv);
    if (!args.count("input")) throw Error("no image or folder given (usage: vitc compare IMAGE|DIR [--out DIR])");
    const std::string input = args["input"].as<std::string>(), format = args["format"].as<std::string>();
    if (format != "text" && format != "json") throw Error("--format must be text or json, not '" + format + "'");
    CompareOptions compare;
    compare.batch_size = args["batch-size"].as<int>();
    if (compare.batch_size < 1 || compare.batch_size > kMaxBatchSize)
        throw Error("--batch-size must be between 1 and " + std::to_string(kMaxBatchSize));
    compare.limits = decode_limits_from(args);
    std::error_code ec;
    const bool folder = fs::is_directory(input, ec);
    if (!folder && !fs::exists(input, ec)) throw Error(input + ": no such image or folder");
    const std::string out_dir = args.count("out") ? args["out"].as<std::string>() : "";
    if (!out_dir.empty() && folder && is_inside(out_dir, input))
        throw Error("--out " + out_dir + " is inside the input folder " + input + "; vitc never writes there");
    set_threads_from(args);

    const std::array<std::string, 2> dirs = {args["vit"].as<std::string>(), args["cnn"].as<std::string>()};
    const std::array<Precision, 2> precisions = {parse_precision(args["vit-precision"].as<std::string>()),
                                                 parse_precision(args["cnn-precision"].as<std::string>())};
    const auto vit = load_model(dirs[0], precisions[0]);
    const auto cnn = load_model(dirs[1], precisions[1]);
    std::vector<ImageEntry> images;
    std::vector<std::pair<std::string, size_t>> not_scored;
    if (folder) {
        ImageFolder listing = list_image_folder(input, args.count("recursive") > 0, vit->labels());
        images = std::move(listing.images);
        not_scored = std::move(listing.not_scored);
        for (const UnreadableFolder& f : listing.unreadable)
            std::cerr << "vitc compare: warning: cannot read the folder " << printable(f.relative) << ": " << f.reason << "\n";
        if (images.empty()) std::cerr << "vitc compare: no images found in " << printable(input) << "\n";
    } else {
        images.push_back({input, fs::path(input).filename().string(), -1});
    }

    CompareReport report = compare_models({vit.get(), cnn.get()}, {"ViT", "CNN"}, dirs, input, images,
                                          vit->labels(), compare);
    report.not_scored = std::move(not_scored);
    if (format == "json") std::cout << report.to_json().dump(2) << std::endl;
    else report.print_text(std::cout);
    if (!out_dir.empty()) {
        fs::create_directories(out_dir, ec);
        if (ec) throw Error(out_dir + ": cannot create the report folder: " + ec.message());
        const std::string page = (fs::path(out_dir) / "report.html").string();
        const size_t pictures = write_compare_html(report, page, compare.limits);
        (format == "json" ? std::cerr : std::cout) << "wrote " << page << " (" << pictures << " explanation pictures)\n";
    }
    const bool failed = std::any_of(report.images.begin(), report.images.end(),
                                    [](const ComparedImage& i) { return !i.models[0].ok || !i.models[1].ok; });
    return failed ? kExitInputFailed : 0;
}

}  // namespace vitc::cli
