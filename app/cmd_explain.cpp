// vitc explain IMAGE --out FILE.png, or vitc explain IMAGE|DIR... --out DIR : pictures of where
// the model's evidence lies, one PNG per image; with --attention-distance, one plot of how far a
// ViT's heads look (app/explain_distance.cpp).
#include <filesystem>
#include <iostream>
#include <set>

#include "cli_common.hpp"
#include "commands.hpp"
#include "errors.hpp"
#include "explain_distance.hpp"
#include "explain/data_uri.hpp"
#include "explain/heatmap.hpp"
#include "explain/picture.hpp"
#include "image/preprocess.hpp"
#include "io/printable.hpp"
#include "tasks/atomic_file.hpp"
#include "tasks/classifier.hpp"
#include "tasks/image_folder.hpp"

namespace vitc::cli {

namespace fs = std::filesystem;

namespace {

// The same file, also through another spelling of its path or a hard link.
bool same_file(const std::string& a, const std::string& b) {
    std::error_code ec;
    if (fs::exists(a, ec) && fs::exists(b, ec)) return fs::equivalent(a, b, ec);
    return fs::weakly_canonical(fs::absolute(a), ec) == fs::weakly_canonical(fs::absolute(b), ec);
}

// The images named on the command line, folders listed (their images in sorted order).
std::vector<ImageToExplain> images_from(const std::vector<std::string>& inputs, bool recursive, const Model& model) {
    std::vector<ImageToExplain> images;
    for (const std::string& input : inputs) {
        std::error_code ec;
        if (!fs::is_directory(input, ec)) {
            images.push_back({input, fs::path(input).filename().string()});
            continue;
        }
        const ImageFolder folder = list_image_folder(input, recursive, model.labels());
        for (const UnreadableFolder& u : folder.unreadable)
            std::cerr << "vitc explain: cannot read " << printable((fs::path(input) / u.relative).string()) << ": "
                      << printable(u.reason) << "\n";
        if (folder.images.empty()) std::cerr << "vitc explain: no images found in " << printable(input) << "\n";
        for (const ImageEntry& e : folder.images) images.push_back({e.path, e.relative});
    }
    return images;
}

// "Trouser/0001.png" -> "Trouser-0001.png"; a name taken already gets "-2", "-3", ...
std::string picture_name(const std::string& name, std::set<std::string>& taken) {
    std::string stem = fs::path(name).replace_extension().string();
    for (char& c : stem)
        if (c == '/' || c == '\\') c = '-';
    std::string candidate = stem + ".png";
    for (int n = 2; !taken.insert(candidate).second; ++n) candidate = stem + "-" + std::to_string(n) + ".png";
    return candidate;
}

// Refuses an --out folder that is, or lies in, a folder given, or that is the folder of an image
// given (its pictures are named after the images).
void check_out_folder(const std::string& out, const std::vector<std::string>& inputs) {
    for (const std::string& input : inputs) {
        std::error_code ec;
        if (fs::is_directory(input, ec)) {
            if (is_inside(out, input))
                throw Error("--out " + out + " is inside the input folder " + input + "; vitc never writes there");
            continue;
        }
        const fs::path folder = fs::weakly_canonical(fs::absolute(input, ec), ec).parent_path();
        if (fs::weakly_canonical(fs::absolute(out, ec), ec) == folder)
            throw Error("--out " + out + " is the folder of the input image " + input + "; vitc never writes there");
    }
}

void write_png(const std::string& path, const cv::Mat& picture) {
    const std::vector<unsigned char> png = encode_png(picture);
    AtomicFile file(path);
    file.stream().write(reinterpret_cast<const char*>(png.data()), static_cast<std::streamsize>(png.size()));
    file.commit();
}

}  // namespace

int explain_command(int argc, char** argv) {
    cxxopts::Options options("vitc explain",
                             "Draw where the model's evidence lies, as a heat map over the image as the model saw it\n"
                             "  (its input after preprocessing: e.g. grey 28x28), with a colour scale (red: most):\n"
                             "  a ViT gets attention rollout (Abnar & Zuidema, 2020) read at the token its head reads\n"
                             "  (the class token, or the mean of the patch tokens); a ResNet gets Grad-CAM (Selvaraju\n"
                             "  et al., 2017) of its predicted class on layer3, then the class activation map of\n"
                             "  layer4 (Zhou et al., 2016).");
    options.positional_help("IMAGE|DIR...");
    add_model_options(options);
    add_image_options(options);
    options.add_options()
        ("o,out", "FILE.png for one image; a folder (created if needed) for several images or a folder: one "
                  "PNG per image, named after it. Never the input or its folder", cxxopts::value<std::string>())
        ("r,recursive", "descend into every subfolder of a folder given")
        ("l,layer", "ViT only: also draw layer N's attention, averaged over heads (0 = first)", cxxopts::value<int>())
        ("attention-distance", "instead of one picture per image: the ViT's mean attention distance per head by depth "
                               "over all the images (Dosovitskiy et al., 2021, Fig. 7), plotted in --out FILE.png against "
                               "--cnn's receptive field, with the table in FILE.json")
        ("cnn", "with --attention-distance: a ResNet directory whose receptive field per layer is drawn too",
         cxxopts::value<std::string>())
        ("images", "image files or folders", cxxopts::value<std::vector<std::string>>());
    options.parse_positional({"images"});
    const auto args = parse_or_help(options, argc, argv);
    if (!args.count("images")) throw Error("no image given (usage: vitc explain IMAGE --out FILE.png, or IMAGE|DIR... --out DIR)");
    if (!args.count("out")) throw Error("--out is required: FILE.png for one image, a folder for several");
    const std::vector<std::string> inputs = args["images"].as<std::vector<std::string>>();
    const std::string out = args["out"].as<std::string>();
    if (args.count("attention-distance")) {
        if (args.count("layer")) throw Error("--layer draws one picture per image; --attention-distance measures every layer");
        check_out_folder(out, inputs);  // FILE.png and FILE.json: never in an input folder
        for (const std::string& input : inputs)
            if (same_file(input, out) || same_file(input, fs::path(out).replace_extension(".json").string()))
                throw Error("--out " + out + " would overwrite the input " + input + "; vitc never overwrites its input");
        const auto model = load_model_from(args);
        return explain_attention_distance(args, *model, images_from(inputs, args.count("recursive") > 0, *model), out);
    }
    if (args.count("cnn")) throw Error("--cnn is the CNN compared by --attention-distance; give that too");
    std::error_code ec;
    bool any_folder = false;
    for (const std::string& input : inputs) any_folder = any_folder || fs::is_directory(input, ec);
    const bool one_file = fs::path(out).extension() == ".png" && !fs::is_directory(out, ec);
    if (one_file && (inputs.size() > 1 || any_folder))
        throw Error("--out " + out + " is one picture, but " +
                    (any_folder ? std::string("a folder was given") : std::to_string(inputs.size()) + " images were given") +
                    "; give --out a folder for one PNG per image");
    if (one_file) {
        if (same_file(inputs.front(), out)) throw Error("--out " + out + " is the input image; vitc never overwrites its input");
        check_output_path(out, "--out");  // a folder or a link: said now, not after the work
    } else {
        check_out_folder(out, inputs);
    }
    const int layer = args.count("layer") ? args["layer"].as<int>() : -1;
    if (args.count("layer") && layer < 0) throw Error("--layer must be 0 or more");

    const auto model = load_model_from(args);
    Explainer explainer(*model);
    const std::vector<ImageToExplain> images = images_from(inputs, args.count("recursive") > 0, *model);
    if (!one_file) {
        fs::create_directories(out, ec);
        if (ec) throw Error(out + ": cannot create the output folder: " + ec.message());
    }
    // Every image is decoded only in the isolated loader (deadline, memory limit, crash
    // contained); the pictures are drawn from the tensor it returns, which is what the model saw.
    const Classifier loader(*model, decode_limits_from(args));
    std::vector<float> input(loader.input_size());
    const std::string name = model->summary().family == "vit" ? "ViT" : "CNN";
    std::set<std::string> taken;
    int failed = 0;
    for (const ImageToExplain& image : images) {
        const std::string path = one_file ? out : (fs::path(out) / picture_name(image.name, taken)).string();
        uint32_t conversions = 0;
        try {
            loader.load_image(image.path, input.data(), nullptr, &conversions);
        } catch (const Error& e) {  // the input failed, not the usage: status 1, as classify
            std::cerr << "vitc explain: error: " << printable(e.what()) << "\n";
            ++failed;
            continue;
        }
        const ExplainedImage e = explainer.explain(input.data(), layer);
        std::vector<cv::Mat> panels = {input_panel(input.data(), *model, {image.name, "as the model sees it"},
                                                   input_description(*model))};
        for (cv::Mat& panel : explanation_panels(input.data(), *model, e, name)) panels.push_back(panel);
        if (!one_file) check_output_path(path, "--out");
        write_png(path, side_by_side(panels));

        std::cout << "wrote " << printable(path) << ": ";
        for (size_t i = 0; i < e.explanations.size(); ++i)
            std::cout << (i ? ", " : "") << e.explanations[i].method << " (" << e.explanations[i].height << "x"
                      << e.explanations[i].width << ")";
        std::cout << "; predicted " << printable(prediction_caption(*model, e));
        const std::vector<std::string> converted = conversion_names(conversions);
        for (size_t i = 0; i < converted.size(); ++i) std::cout << (i ? ", " : " (input converted: ") << converted[i];
        std::cout << (converted.empty() ? "\n" : ")\n");
    }
    if (images.size() > 1) std::cout << "explained " << images.size() - failed << " of " << images.size() << " images\n";
    return failed ? kExitInputFailed : 0;
}

}  // namespace vitc::cli
