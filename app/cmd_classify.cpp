// vitc classify IMAGE... : top-K labels with probabilities for each image.
#include <chrono>
#include <iomanip>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>

#include "cli_common.hpp"
#include "commands.hpp"
#include "errors.hpp"
#include "image/preprocess.hpp"
#include "tasks/batch.hpp"
#include "tasks/classifier.hpp"
#include "io/printable.hpp"

namespace vitc::cli {

int classify_command(int argc, char** argv) {
    cxxopts::Options options("vitc classify", "Classify images; prints the top-K labels of each.");
    options.positional_help("IMAGE...");
    add_model_options(options);
    add_image_options(options);
    options.add_options()
        ("k,top", "how many labels to show per image", cxxopts::value<int>()->default_value("5"))
        ("f,format", "output format: text, or json (one JSON object per line per image)",
         cxxopts::value<std::string>()->default_value("text"))
        ("logits", "also print the raw logits")
        ("q,quiet", "no notes on standard error (errors still)")
        ("images", "image files", cxxopts::value<std::vector<std::string>>());
    options.parse_positional({"images"});
    const auto args = parse_or_help(options, argc, argv);
    const std::string format = args["format"].as<std::string>();
    if (format != "text" && format != "json") throw Error("--format must be text or json, not '" + format + "'");
    if (!args.count("images")) throw Error("no images given (usage: vitc classify IMAGE... [--model DIR])");
    const int k = args["top"].as<int>();
    if (k < 1) throw Error("--top must be at least 1");

    const auto model = load_model_from(args);
    Classifier classifier(*model, decode_limits_from(args));
    const auto& labels = model->labels();
    int failures = 0;
    std::map<std::string, size_t> converted;  // said once per run, on stderr
    for (const std::string& path : args["images"].as<std::vector<std::string>>()) {
        using Clock = std::chrono::steady_clock;
        const auto start = Clock::now();
        std::vector<float> input(classifier.input_size());
        uint32_t conversions = 0;
        try {
            classifier.load_image(path, input.data(), nullptr, &conversions);
        } catch (const Error& e) {
            ++failures;
            std::cerr << "vitc classify: error: " << printable(e.what()) << "\n";
            if (format == "json") {
                nlohmann::ordered_json j = file_json(path);
                j["status"] = "error";
                j["error"] = e.what();
                std::cout << j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << std::endl;
            }
            continue;
        }
        for (const std::string& name : conversion_names(conversions)) ++converted[name];
        const auto loaded = Clock::now();
        const Prediction prediction = classifier.run(input.data(), 1).front();
        const auto done = Clock::now();
        const double preprocess_ms = std::chrono::duration<double, std::milli>(loaded - start).count();
        const double model_ms = std::chrono::duration<double, std::milli>(done - loaded).count();
        const auto top = top_k(prediction, k);

        if (format == "json") {  // the shape of a batch JSON Lines row, plus logits and times
            nlohmann::ordered_json j = file_json(path);
            j["status"] = "ok";
            j["top"] = top_json(prediction, labels, k);
            if (conversions) j["input"] = input_json(conversions);
            if (args.count("logits")) j["logits"] = prediction.logits;
            j["time_ms"] = {{"decode_preprocess", preprocess_ms}, {"model", model_ms}};
            std::cout << j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << std::endl;
            continue;
        }
        std::cout << printable(path) << "\n";
        for (size_t i = 0; i < top.size(); ++i)
            std::cout << "  " << i + 1 << ". " << std::left << std::setw(20) << printable(labels[top[i].index]) << std::right
                      << std::fixed << std::setprecision(2) << std::setw(7) << 100.0 * top[i].probability << "%\n";
        if (args.count("logits")) {
            std::cout << "  logits:";
            for (float v : prediction.logits) std::cout << " " << std::setprecision(5) << v;
            std::cout << "\n";
        }
        std::cout << std::setprecision(2) << "  (" << preprocess_ms << " ms decode+preprocess, " << model_ms << " ms model";
        for (const std::string& name : conversion_names(conversions)) std::cout << "; " << name;
        std::cout << ")\n";
    }
    if (!converted.empty() && !args.count("quiet")) {
        std::cerr << "vitc classify: note: the model's preprocessing converted images (";
        for (auto it = converted.begin(); it != converted.end(); ++it)
            std::cerr << (it == converted.begin() ? "" : ", ") << it->first << ": " << it->second;
        std::cerr << "); the answers are about the converted images (--strict-input refuses them)\n";
    }
    return failures ? kExitInputFailed : 0;
}

}  // namespace vitc::cli
