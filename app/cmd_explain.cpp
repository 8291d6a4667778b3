// vitc explain IMAGE --out FILE.png : a picture of where the model's evidence lies.
#include <filesystem>
#include <iostream>

#include "cli_common.hpp"
#include "commands.hpp"
#include "errors.hpp"
#include "explain/data_uri.hpp"
#include "explain/heatmap.hpp"
#include "explain/picture.hpp"
#include "image/preprocess.hpp"
#include "tasks/atomic_file.hpp"
#include "io/printable.hpp"
#include "tasks/classifier.hpp"

namespace vitc::cli {

namespace fs = std::filesystem;

namespace {

// The same file, also through another spelling of its path or a hard link.
bool same_file(const std::string& a, const std::string& b) {
    std::error_code ec;
    if (fs::exists(a, ec) && fs::exists(b, ec)) return fs::equivalent(a, b, ec);
    return fs::weakly_canonical(fs::absolute(a), ec) == fs::weakly_canonical(fs::absolute(b), ec);
}

}  // namespace

int explain_command(int argc, char** argv) {
    cxxopts::Options options("vitc explain",
                             "Draw where the model's evidence lies, as a heat map over the image (red: most):\n"
                             "  a ViT gets attention rollout (Abnar & Zuidema, 2020), a CNN the class\n"
                             "  activation map of its predicted class (Zhou et al., 2016).");
    options.positional_help("IMAGE");
    add_model_options(options);
    add_image_options(options);
    options.add_options()
        ("o,out", "PNG file to write (never the input image)", cxxopts::value<std::string>())
        ("l,layer", "ViT only: also draw layer N's class-token attention, averaged over heads (0 = first)",
         cxxopts::value<int>())
        ("image", "image file", cxxopts::value<std::string>());
    options.parse_positional({"image"});
    const auto args = parse_or_help(options, argc, argv);
    if (!args.count("image")) throw Error("no image given (usage: vitc explain IMAGE --out FILE.png)");
    if (!args.count("out")) throw Error("--out FILE.png is required");
    const std::string image = args["image"].as<std::string>(), out = args["out"].as<std::string>();
    if (fs::path(out).extension() != ".png") throw Error("--out must end in .png, not '" + out + "'");
    if (same_file(image, out)) throw Error("--out " + out + " is the input image; vitc never overwrites its input");
    check_output_path(out, "--out");  // a folder or a link: said now, not after the work
    const int layer = args.count("layer") ? args["layer"].as<int>() : -1;
    if (args.count("layer") && layer < 0) throw Error("--layer must be 0 or more");

    const auto model = load_model_from(args);
    Explainer explainer(*model);
    const DecodeLimits limits = decode_limits_from(args);
    const Preprocessing& p = model->preprocessing();
    std::vector<float> input(static_cast<size_t>(model->num_channels()) * p.output_height() * p.output_width());
    cv::Mat decoded;
    try {
        // First in the isolated loader (deadline, memory limit, crash contained); only an image that
        // passed there is decoded again here, for the pictures.
        Classifier(*model, limits).load_image(image, input.data());
        decoded = decode_image(image, limits);
        preprocess_image(decoded, p, model->num_channels(), input.data(), limits.max_pixels);
    } catch (const Error& e) {  // the input failed, not the usage: status 1, as classify
        std::cerr << "vitc explain: error: " << printable(e.what()) << "\n";
        return kExitInputFailed;
    }
    const ExplainedImage e = explainer.explain(input.data(), layer);

    const std::string name = model->summary().family == "vit" ? "ViT" : "CNN";
    std::vector<cv::Mat> panels = {input_panel(decoded, *model, {fs::path(image).filename().string(), "as the model sees it"}, "")};
    for (cv::Mat& panel : explanation_panels(decoded, *model, e, name)) panels.push_back(panel);
    const std::vector<unsigned char> png = encode_png(side_by_side(panels));
    AtomicFile file(out);
    file.stream().write(reinterpret_cast<const char*>(png.data()), static_cast<std::streamsize>(png.size()));
    file.commit();

    std::cout << "wrote " << printable(out) << ": ";
    for (size_t i = 0; i < e.explanations.size(); ++i)
        std::cout << (i ? ", " : "") << e.explanations[i].method << " (" << e.explanations[i].height << "x"
                  << e.explanations[i].width << ")";
    std::cout << "; predicted " << printable(prediction_caption(*model, e)) << "\n";
    return 0;
}

}  // namespace vitc::cli
