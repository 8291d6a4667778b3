// vitc: classify images with a Vision Transformer on oneDNN.
#include <cstring>
#include <cxxopts.hpp>
#include <dnnl.hpp>
#include <iostream>
#include <string>

#include "cli_common.hpp"
#include "commands.hpp"
#include "errors.hpp"
#include "image/isolated_loader.hpp"
#include "io/printable.hpp"

namespace {

const char* kUsage = R"(vitc: Vision Transformer image classifier (oneDNN)

usage: vitc <command> [options]

commands:
  classify IMAGE...   top-K labels for each image (text or JSON)
  batch DIR           classify every image in a folder; accuracy on labelled folders
  merge SHARD...      one result from the outputs of 'batch --shard K/N' (a cluster's array job)
  info                architecture, parameters, FLOPs and labels of a model
  bench               latency, throughput and GFLOP/s against the measured matmul peak
  explain IMAGE       heat map of where the evidence lies (attention rollout, class activation map)
  compare IMAGE|DIR   a ViT and a CNN side by side: predictions, accuracy, speed, HTML report
  train DATA          train a ViT or a CNN on a labelled folder or Fashion-MNIST; writes a model directory
  study DATA          ViT against CNN as the training set grows: accuracy by size, HTML report
  convert CKPT.pth    a torchvision checkpoint to a model directory (no Python needed)

  vitc <command> --help   options of a command (or: vitc help <command>)
  vitc -V, --version      version

The default model is the bundled Fashion-MNIST ViT; --model DIR (or $VITC_MODEL) picks another
directory in the Hugging Face layout (config.json + model.safetensors).
)";

}  // namespace

int run(int argc, char** argv);

int main(int argc, char** argv) {
    // The child process that decodes images for the others (lib/image/isolated_loader.hpp).
    if (argc == 2 && !std::strcmp(argv[1], vitc::kImageLoaderCommand)) return vitc::run_image_loader_worker();
    return run(argc, argv);
}

int run(int argc, char** argv) {
    if (argc < 2) {  // a usage error: one line on stderr, as for every other
        std::cerr << "vitc: no command given; run 'vitc --help' for the commands\n";
        return vitc::cli::kExitUsage;
    }
    if (!std::strcmp(argv[1], "help") && argc >= 3) {  // vitc help CMD: the command's own help
        static char help[] = "--help";
        char* args[] = {argv[0], argv[2], help, nullptr};
        return run(3, args);
    }
    if (!std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h") || !std::strcmp(argv[1], "help")) {
        std::cout << kUsage;
        return 0;
    }
    const std::string command = argv[1];
    if (command == "--version" || command == "-V") {
        const dnnl_version_t* v = dnnl_version();
        std::cout << "vitc " << VITC_VERSION << " (oneDNN " << v->major << "." << v->minor << "." << v->patch << ")\n";
        return 0;
    }
    try {
        // Each subcommand sees its own name as argv[0].
        if (command == "classify") return vitc::cli::classify_command(argc - 1, argv + 1);
        if (command == "batch") return vitc::cli::batch_command(argc - 1, argv + 1);
        if (command == "info") return vitc::cli::info_command(argc - 1, argv + 1);
        if (command == "bench") return vitc::cli::bench_command(argc - 1, argv + 1);
        if (command == "explain") return vitc::cli::explain_command(argc - 1, argv + 1);
        if (command == "compare") return vitc::cli::compare_command(argc - 1, argv + 1);
        if (command == "train") return vitc::cli::train_command(argc - 1, argv + 1);
        if (command == "study") return vitc::cli::study_command(argc - 1, argv + 1);
        if (command == "merge") return vitc::cli::merge_command(argc - 1, argv + 1);
        if (command == "convert") return vitc::cli::convert_command(argc - 1, argv + 1);
        std::cerr << "vitc: unknown command '" << vitc::printable(command) << "'; run 'vitc --help'\n";
        return vitc::cli::kExitUsage;
    } catch (const cxxopts::exceptions::exception& e) {
        std::cerr << "vitc " << vitc::printable(command) << ": " << vitc::printable(e.what()) << " (see 'vitc " << vitc::printable(command) << " --help')\n";
    } catch (const vitc::Error& e) {
        std::cerr << "vitc " << vitc::printable(command) << ": error: " << vitc::printable(e.what()) << "\n";
    } catch (const dnnl::error& e) {
        std::cerr << "vitc " << vitc::printable(command) << ": oneDNN error: " << vitc::printable(e.what()) << "\n";
    } catch (const std::exception& e) {
        std::cerr << "vitc " << vitc::printable(command) << ": error: " << vitc::printable(e.what()) << "\n";
    }
    return vitc::cli::kExitUsage;
}
