// vitc train DATA --out MODEL_DIR : train a ViT from scratch on a labelled folder or IDX files.
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <iostream>

#include "cli_common.hpp"
#include "commands.hpp"
#include "errors.hpp"
#include "train/train_models.hpp"
#include "train/trainer.hpp"

namespace vitc::cli {

namespace {

std::atomic<bool> stop_requested{false};

// The first Ctrl-C or SIGTERM asks the trainer to checkpoint and stop; a second one kills.
extern "C" void request_stop(int signal) {
    stop_requested.store(true);
    std::signal(signal, SIG_DFL);
}

}  // namespace

int train_command(int argc, char** argv) {
    cxxopts::Options options("vitc train",
                             "Train a ViT or a ResNet on a folder of labelled images (one subfolder per class) or on the\n"
                             "MNIST/Fashion-MNIST IDX files, from scratch or fine-tuning a model directory\n"
                             "(--init-from); writes a model directory vitc loads.");
    options.positional_help("DATA --out MODEL_DIR");
    std::string presets;
    for (const std::string& p : train::architecture_presets()) presets += (presets.empty() ? "" : ", ") + p;
    options.add_options()
        ("o,out", "model directory to write (also holds checkpoint.vitc and train_log.jsonl)",
         cxxopts::value<std::string>())
        ("arch", "a preset (" + presets + ") or a config.json in vitc's fields", cxxopts::value<std::string>()->default_value("vit"))
        ("epochs", "epochs", cxxopts::value<int>()->default_value("10"))
        ("b,batch-size", "images per step", cxxopts::value<int>()->default_value("128"))
        ("optimizer", "adamw, or sgd (Nesterov momentum 0.9)", cxxopts::value<std::string>()->default_value("adamw"))
        ("lr", "peak learning rate", cxxopts::value<float>()->default_value("0.001"))
        ("weight-decay", "weight decay on the weight matrices", cxxopts::value<float>()->default_value("0.05"))
        ("clip", "clip gradients to this global L2 norm (0: off)", cxxopts::value<float>()->default_value("1.0"))
        ("warmup-epochs", "linear warm-up, then cosine decay", cxxopts::value<float>()->default_value("1"))
        ("label-smoothing", "label smoothing of the loss", cxxopts::value<float>()->default_value("0.1"))
        ("val-split", "held out for validation (seeded): a fraction below 1, or a number of images", cxxopts::value<float>()->default_value("0.1"))
        ("val", "validate on this labelled folder (the training classes as subfolders, or the t10k IDX files) "
         "instead of --val-split", cxxopts::value<std::string>())
        ("init-from", "fine-tune this model directory (a ViT or a ResNet, in any naming vitc loads): its "
         "architecture, weights, input size and mean/std; its head is kept when the data's classes are its "
         "labels, else a new one", cxxopts::value<std::string>())
        ("freeze-backbone", "with --init-from: train the head alone (a linear probe) on the backbone's "
         "features, computed once per image")
        ("distill-from", "distil from this trained model directory (a ViT or a ResNet for the same images and "
         "classes, e.g. a CNN): its top-1 on each augmented batch joins the loss (DeiT's hard-label distillation)",
         cxxopts::value<std::string>())
        ("distill-weight", "with --distill-from: the weight w of the teacher's loss; the labels' gets 1 - w",
         cxxopts::value<float>()->default_value("0.5"))
        ("limit", "train on a seeded random subset of this many images", cxxopts::value<int64_t>()->default_value("0"))
        ("seed", "seed of the split, the initial weights and the shuffles", cxxopts::value<uint64_t>()->default_value("0"))
        ("attention", "auto, full (T x T probabilities kept) or tiled (flash: recomputed in backward)",
         cxxopts::value<std::string>()->default_value("auto"))
        ("precision", "f32, or bf16: matmuls and convolutions take bf16 operands (f32 accumulation, master "
         "weights and gradients)", cxxopts::value<std::string>()->default_value("f32"))
        ("augment", "none, or a list of crop[=P] (pad P, crop back), flip, erase[=p] (random erasing)",
         cxxopts::value<std::string>()->default_value("none"))
        ("image-size", "resize folder images to N x N (default: the --arch config's size, else the first image's)",
         cxxopts::value<int>())
        ("resume", "continue from MODEL_DIR/checkpoint.vitc")
        ("t,threads", "threads (default: all cores; --resume matches bit for bit with the same count)",
         cxxopts::value<int>())
        ("data", "training data", cxxopts::value<std::string>());
    add_image_options(options);
    options.parse_positional({"data"});
    const auto args = parse_or_help(options, argc, argv);
    if (!args.count("data")) throw Error("no data given (usage: vitc train DATA --out MODEL_DIR)");
    if (!args.count("out")) throw Error("--out MODEL_DIR is required");
    set_threads_from(args);

    train::TrainOptions o;
    o.data = args["data"].as<std::string>();
    o.out = args["out"].as<std::string>();
    if (is_inside(o.out, o.data)) throw Error("--out " + o.out + " is inside the data folder; vitc never writes there");
    o.arch = args["arch"].as<std::string>();
    if (args.count("init-from")) {
        if (args.count("arch")) throw Error("--arch and --init-from exclude each other: the model directory is the architecture");
        o.init_from = args["init-from"].as<std::string>();
    }
    o.freeze_backbone = args.count("freeze-backbone") > 0;
    if (args.count("distill-from")) o.distill_from = args["distill-from"].as<std::string>();
    else if (args.count("distill-weight")) throw Error("--distill-weight needs --distill-from MODEL_DIR");
    o.distill_weight = args["distill-weight"].as<float>();
    if (args.count("val")) {
        if (args.count("val-split")) throw Error("--val and --val-split exclude each other");
        o.val = args["val"].as<std::string>();
        if (is_inside(o.out, o.val)) throw Error("--out " + o.out + " is inside the --val folder; vitc never writes there");
    }
    o.epochs = args["epochs"].as<int>();
    o.batch_size = args["batch-size"].as<int>();
    const std::string optimizer = args["optimizer"].as<std::string>();
    if (optimizer == "sgd") o.optimizer.kind = train::OptimizerKind::SGD;
    else if (optimizer != "adamw") throw Error("--optimizer must be adamw or sgd, not '" + optimizer + "'");
    o.optimizer.lr = args["lr"].as<float>();
    o.optimizer.weight_decay = args["weight-decay"].as<float>();
    o.optimizer.clip_norm = args["clip"].as<float>();
    o.warmup_epochs = args["warmup-epochs"].as<float>();
    o.label_smoothing = args["label-smoothing"].as<float>();
    o.val_split = args["val-split"].as<float>();
    o.limit = args["limit"].as<int64_t>();
    o.seed = args["seed"].as<uint64_t>();
    o.resume = args.count("resume") > 0;
    o.limits = decode_limits_from(args);
    if (args.count("image-size")) {
        o.image_size = args["image-size"].as<int>();
        if (o.image_size < 1 || o.image_size > 4096) throw Error("--image-size must be between 1 and 4096");
    }
    o.augment = train::parse_augmentation(args["augment"].as<std::string>());
    const std::string attention = args["attention"].as<std::string>();
    if (attention == "full") o.attention = train::TrainAttention::Full;
    else if (attention == "tiled") o.attention = train::TrainAttention::Tiled;
    else if (attention != "auto") throw Error("--attention must be auto, full or tiled, not '" + attention + "'");
    const std::string precision = args["precision"].as<std::string>();
    if (precision != "f32" && precision != "bf16") throw Error("--precision must be f32 or bf16, not '" + precision + "'");
    o.precision = parse_precision(precision);
    o.progress = isatty(STDOUT_FILENO);

    std::signal(SIGINT, request_stop);
    std::signal(SIGTERM, request_stop);
    return train::run_training(o, stop_requested, std::cout);
}

}  // namespace vitc::cli
