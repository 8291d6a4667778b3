// vitc merge SHARD_OUTPUT... --dir DIR --out FILE : one result from the outputs of
// `vitc batch --shard K/N`, after checking that they cover the folder exactly once.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli_common.hpp"
#include "commands.hpp"
#include "errors.hpp"
#include "tasks/atomic_file.hpp"
#include "tasks/merge.hpp"

namespace vitc::cli {

namespace fs = std::filesystem;

namespace {

// Prints what is wrong with the coverage, at most `shown` names per kind.
void report_problem(const std::vector<std::string>& files, const std::string& what) {
    if (files.empty()) return;
    const size_t shown = 20;
    std::cerr << "vitc merge: " << files.size() << " " << what << ":\n";
    for (size_t i = 0; i < std::min(shown, files.size()); ++i) std::cerr << "  " << files[i] << "\n";
    if (files.size() > shown) std::cerr << "  ... and " << files.size() - shown << " more\n";
}

// Times come from the shards' --summary-json files (rows carry none): `OUT.summary.json`
// beside each shard output OUT, as scripts/slurm/batch.sbatch writes them. Summed, they are
// node-seconds; the slowest shard bounds the wall time when the shards ran side by side.
struct ShardTimes {
    size_t summaries = 0;
    double slowest = 0;
};

ShardTimes add_shard_times(const std::vector<std::string>& outputs, BatchReport& report) {
    ShardTimes times;
    for (const std::string& output : outputs) {
        const std::string path = output + ".summary.json";
        std::ifstream in(path);
        if (!in) continue;
        nlohmann::json j;
        try {
            j = nlohmann::json::parse(in);
            report.seconds += j.at("seconds").get<double>();
            report.decode_seconds += j.at("decode_seconds").get<double>();
            report.preprocess_seconds += j.at("preprocess_seconds").get<double>();
            report.model_seconds += j.at("model_seconds").get<double>();
            times.slowest = std::max(times.slowest, j.at("seconds").get<double>());
        } catch (const nlohmann::json::exception& e) {
            throw Error(path + ": not a vitc batch summary (" + e.what() + ")");
        }
        ++times.summaries;
    }
    return times;
}

}  // namespace

int merge_command(int argc, char** argv) {
    cxxopts::Options options("vitc merge",
                             "Merge the outputs of 'vitc batch DIR --shard K/N' into one file, after checking\n"
                             "  that together they hold every image of DIR exactly once (DIR is listed again).\n"
                             "  Prints the summary 'vitc batch' prints; times come from OUTPUT.summary.json\n"
                             "  beside each shard output when present (batch --summary-json).");
    options.positional_help("SHARD_OUTPUT...");
    options.add_options()
        ("d,dir", "the folder the shards classified", cxxopts::value<std::string>())
        ("r,recursive", "the shards ran with --recursive")
        ("o,out", "merged rows: FILE.csv or FILE.jsonl, the shard outputs' format", cxxopts::value<std::string>())
        ("allow-partial", "write the merged rows even when some files of the folder are in no shard output")
        ("summary-json", "also write the summary as JSON to FILE", cxxopts::value<std::string>())
        ("m,model", "the model the shards ran (for its labels)",
         cxxopts::value<std::string>()->default_value(default_model_dir()))
        ("outputs", "shard outputs", cxxopts::value<std::vector<std::string>>());
    options.parse_positional({"outputs"});
    const auto args = parse_or_help(options, argc, argv);
    if (!args.count("outputs")) throw Error("no shard outputs given (usage: vitc merge SHARD_OUTPUT... --dir DIR --out FILE)");
    if (!args.count("dir")) throw Error("--dir DIR is needed: the folder is listed again to find files no shard holds");
    if (!args.count("out")) throw Error("--out FILE is needed (.csv or .jsonl)");
    const auto inputs = args["outputs"].as<std::vector<std::string>>();
    const std::string dir = args["dir"].as<std::string>(), out_path = args["out"].as<std::string>();
    for (const char* option : {"out", "summary-json"})
        if (args.count(option) && is_inside(args[option].as<std::string>(), dir))
            throw Error(std::string("--") + option + " points into the input folder " + dir + "; vitc never writes there");

    const auto model = load_model(args["model"].as<std::string>());
    const std::vector<std::string>& labels = model->labels();
    const ImageFolder folder = list_image_folder(dir, args.count("recursive") > 0, labels);

    std::vector<ShardOutput> shards;
    for (const std::string& input : inputs) shards.push_back(read_shard_output(input, labels));
    const bool json_lines = is_json_lines_output(out_path);
    for (const ShardOutput& shard : shards) {
        if (shard.json_lines != json_lines)
            throw Error(shard.path + ": not the format of --out " + out_path + " (shard outputs are all .csv or all .jsonl)");
        if (shard.header != shards[0].header)
            throw Error(shard.path + ": its columns differ from " + shards[0].path + "'s (were the shards run with different --top?)");
    }

    MergeResult merged = merge_shard_outputs(folder, shards, labels);
    report_problem(merged.missing, "files of the folder are in no shard output");
    report_problem(merged.doubled, "files are in more than one row");
    report_problem(merged.unknown, "rows name files that are not in the folder (another --dir, or --recursive?)");
    if (!merged.doubled.empty() || !merged.unknown.empty())
        throw Error("nothing written: the shard outputs must hold each file of " + dir + " at most once (see above)");
    if (!merged.missing.empty() && !args.count("allow-partial"))
        throw Error("nothing written: " + std::to_string(merged.missing.size()) + " of " +
                    std::to_string(folder.images.size()) + " files are missing (see above); rerun their shards with " +
                    "--resume, or merge anyway with --allow-partial");

    AtomicFile file(out_path);
    file.stream() << shards[0].header;
    for (const ShardRow* row : merged.rows) file.stream() << row->text;
    file.commit();

    BatchReport& report = merged.report;
    const ShardTimes times = add_shard_times(inputs, report);
    std::cout << "wrote " << out_path << ": " << merged.rows.size() << " rows from " << shards.size() << " shard outputs";
    if (!merged.missing.empty()) std::cout << " (partial: " << merged.missing.size() << " files missing)";
    std::cout << "\n";
    if (times.summaries)
        std::cout << "time below: summed over " << times.summaries << " shard summaries (node-seconds); the slowest shard took "
                  << std::fixed << std::setprecision(2) << times.slowest << " s\n";
    else
        std::cout << "time below: none (no SHARD_OUTPUT.summary.json beside the shard outputs)\n";
    report.print_text(std::cout, labels);

    if (args.count("summary-json")) {
        nlohmann::json j = report.to_json(labels);
        j["shard_outputs"] = inputs;
        j["missing"] = merged.missing;
        AtomicFile json_file(args["summary-json"].as<std::string>());
        json_file.stream() << j.dump(2) << "\n";
        json_file.commit();
    }
    return report.failed ? kExitInputFailed : 0;
}

}  // namespace vitc::cli
