// vitc info : what a model directory holds.
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli_common.hpp"
#include "commands.hpp"
#include "errors.hpp"
#include "io/printable.hpp"

namespace vitc::cli {

int info_command(int argc, char** argv) {
    cxxopts::Options options("vitc info", "Describe a model: architecture, parameters, FLOPs per image, labels.");
    add_model_options(options);
    options.add_options()("f,format", "text or json", cxxopts::value<std::string>()->default_value("text"));
    const auto args = parse_or_help(options, argc, argv);
    const std::string format = args["format"].as<std::string>();
    if (format != "text" && format != "json") throw Error("--format must be text or json, not '" + format + "'");

    const auto model = load_model_from(args);
    const ModelSummary s = model->summary();
    const Preprocessing& p = model->preprocessing();
    if (format == "json") {
        nlohmann::json j = {{"model", args["model"].as<std::string>()},
                            {"family", s.family},
                            {"architecture", s.architecture},
                            {"weight_scheme", s.weight_scheme},
                            {"precision", s.precision},
                            {"parameters", s.parameters},
                            {"flops_per_image", s.flops_per_image},
                            {"input", {model->num_channels(), p.output_height(), p.output_width()}},
                            {"mean", p.mean},
                            {"std", p.std},
                            {"labels", model->labels()}};
        std::cout << j.dump(2) << std::endl;
        return 0;
    }
    std::cout << "model:        " << printable(args["model"].as<std::string>()) << "\n"
              << "architecture: " << printable(s.architecture) << "\n"
              << "weights:      " << s.weight_scheme << " names, loaded as " << s.precision << "\n"
              << "parameters:   " << s.parameters << " (" << s.parameters / 1e6 << " M)\n"
              << "FLOPs/image:  " << s.flops_per_image << " (" << s.flops_per_image / 1e9 << " GFLOP)\n"
              << "input:        " << model->num_channels() << "x" << p.output_height() << "x" << p.output_width()
              << ", mean";
    for (float m : p.mean) std::cout << " " << m;
    std::cout << ", std";
    for (float v : p.std) std::cout << " " << v;
    // A handful on one line; more (ImageNet's 1,000) one per line, index first, for grep and cut.
    const auto& labels = model->labels();
    constexpr size_t kOneLine = 12;
    std::cout << "\nlabels (" << labels.size() << "):";
    for (size_t i = 0; i < labels.size(); ++i) {
        if (labels.size() <= kOneLine) std::cout << (i ? ", " : " ") << i << " " << printable(labels[i]);
        else std::cout << "\n  " << i << "\t" << printable(labels[i]);
    }
    std::cout << "\n";
    return 0;
}

}  // namespace vitc::cli
