// vitc convert : a torchvision checkpoint (.pth, as torch.save writes it) to a model directory,
// without Python (lib/tasks/checkpoint_convert.hpp; the pickle is read by lib/io/pickle.hpp, which
// builds tensors and dicts and calls nothing).
#include <iostream>

#include "cli_common.hpp"
#include "commands.hpp"
#include "errors.hpp"
#include "tasks/checkpoint_convert.hpp"
#include "io/printable.hpp"

namespace vitc::cli {

int convert_command(int argc, char** argv) {
    cxxopts::Options options("vitc convert",
                             "Convert a torchvision checkpoint (torch.save of a state_dict, .pth) into a model directory\n"
                             "(config.json, model.safetensors, preprocessor_config.json), without Python. The pickle is\n"
                             "read by a restricted unpickler: it builds tensors and dicts and calls nothing.");
    options.positional_help("CHECKPOINT.pth --arch NAME --out DIR");
    options.add_options()
        ("checkpoint", "the .pth file", cxxopts::value<std::string>())
        ("a,arch", "torchvision architecture: resnet18, resnet34, resnet50, resnet101, resnet152, vit_b_16, vit_b_32, "
                   "vit_l_16, vit_l_32, vit_h_14 (widths and depths are read from the tensors)",
         cxxopts::value<std::string>())
        ("o,out", "model directory to write (must not exist, or be empty)", cxxopts::value<std::string>())
        ("labels", "file with one label per line, as many as the head has classes (default: class_0 ...)",
         cxxopts::value<std::string>())
        ("image-size", "ResNet: the input size preprocessing resizes to (default 224); a ViT's comes from its "
                       "positional embeddings", cxxopts::value<int>())
        ("heads", "ViT: attention heads (default: hidden size / the architecture's head size, 64, or 80 for vit_h)",
         cxxopts::value<int>());
    options.parse_positional({"checkpoint"});
    const auto args = parse_or_help(options, argc, argv);
    if (!args.count("checkpoint")) throw Error("a CHECKPOINT.pth is required (vitc convert CHECKPOINT.pth --arch NAME --out DIR)");
    for (const char* required : {"arch", "out"})
        if (!args.count(required))
            throw Error(std::string("--") + required + " is required (vitc convert CHECKPOINT.pth --arch NAME --out DIR)");
    ConvertOptions convert;
    convert.arch = args["arch"].as<std::string>();
    if (args.count("labels")) convert.labels = read_labels_file(args["labels"].as<std::string>());
    if (args.count("image-size")) convert.image_size = args["image-size"].as<int>();
    if (args.count("heads")) convert.heads = args["heads"].as<int>();
    if (convert.image_size < 0 || convert.heads < 0) throw Error("--image-size and --heads must be positive");
    const std::string out = args["out"].as<std::string>();
    const std::string summary = convert_checkpoint(args["checkpoint"].as<std::string>(), convert, out);
    std::cout << "wrote " << printable(out) << ": " << printable(summary) << "\n";
    return 0;
}

}  // namespace vitc::cli
