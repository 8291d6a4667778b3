#include "explain_distance.hpp"

#include <cstdio>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli_common.hpp"
#include "errors.hpp"
#include "explain/attention_distance.hpp"
#include "explain/data_uri.hpp"
#include "explain/explainer.hpp"
#include "io/printable.hpp"
#include "models/resnet.hpp"
#include "models/vit.hpp"
#include "tasks/atomic_file.hpp"
#include "tasks/classifier.hpp"

namespace vitc::cli {

namespace fs = std::filesystem;

namespace {

void write_file(const std::string& path, const std::string& bytes) {
    AtomicFile file(path);
    file.stream().write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    file.commit();
}

std::string fixed(double v) {
    char text[32];
    std::snprintf(text, sizeof text, "%6.2f", v);
    return text;
}

void print_table(const AttentionDistanceReport& r) {
    std::cout << "mean attention distance (input pixels) over " << r.images.size() << " images; "
              << (r.grid.prefix ? "class token excluded as query and key, rows not renormalised" : "no class token")
              << "\nblock ";
    const size_t heads = r.distance.empty() ? 0 : r.distance.front().size();
    for (size_t h = 0; h < heads; ++h) std::cout << " head" << h + 1 << (h + 1 < 10 ? " " : "");
    std::cout << "   mean" << (r.grid.prefix ? "  to class token" : "") << "\n";
    for (size_t b = 0; b < r.distance.size(); ++b) {
        double mean = 0, share = 0;
        std::cout << (b + 1 < 10 ? "    " : "   ") << b + 1 << " ";
        for (size_t h = 0; h < heads; ++h) {
            std::cout << " " << fixed(r.distance[b][h]);
            mean += r.distance[b][h] / static_cast<double>(heads);
            share += r.class_token_share[b][h] / static_cast<double>(heads);
        }
        std::cout << " " << fixed(mean);
        if (r.grid.prefix) std::cout << "  " << fixed(100 * share) << "%";
        std::cout << "\n";
    }
    std::cout << "uniform over all " << r.grid.patches() << " patches: " << fixed(r.uniform_distance) << "\n";
    if (r.cnn.empty()) return;
    std::cout << "CNN receptive field (input pixels) at the end of each stage:";
    for (size_t i = 0; i < r.cnn_fields.size(); ++i)
        if (r.cnn_fields[i].stage_end)
            std::cout << " " << r.cnn_fields[i].stage << " (depth " << i + 1 << ") " << r.cnn_fields[i].size << ";";
    std::cout << "\n";
}

}  // namespace

int explain_attention_distance(const cxxopts::ParseResult& args, const Model& vit_model,
                               const std::vector<ImageToExplain>& images, const std::string& out) {
    const auto* vit = dynamic_cast<const ViTModel*>(&vit_model);
    if (!vit)
        throw Error("--attention-distance measures a ViT's heads, but --model " + args["model"].as<std::string>() +
                    " is a " + vit_model.summary().family + " (give a CNN as --cnn DIR)");
    if (fs::path(out).extension() != ".png") throw Error("--out " + out + ": --attention-distance writes a .png plot (and a .json beside it)");
    const std::string json_path = fs::path(out).replace_extension(".json").string();
    check_output_path(out, "--out");
    check_output_path(json_path, "--out");

    std::unique_ptr<Model> cnn;
    const ResNetModel* resnet = nullptr;
    const std::string cnn_name = args.count("cnn") ? args["cnn"].as<std::string>() : "";
    if (!cnn_name.empty()) {
        cnn = load_model(cnn_name);
        resnet = dynamic_cast<const ResNetModel*>(cnn.get());
        if (!resnet)
            throw Error("--cnn " + cnn_name + " is a " + cnn->summary().family + "; the receptive field is drawn for a ResNet");
        const Preprocessing& p = cnn->preprocessing();
        if (p.output_height() != vit->preprocessing().output_height() || p.output_width() != vit->preprocessing().output_width())
            std::cerr << "vitc explain: note: the CNN reads " << p.output_width() << "x" << p.output_height()
                      << " inputs, the ViT " << vit->preprocessing().output_width() << "x"
                      << vit->preprocessing().output_height() << ": the two are in pixels of different inputs\n";
    }
    AttentionDistanceReport report = attention_distance_models(*vit, args["model"].as<std::string>(), resnet, cnn_name);

    Explainer explainer(*vit);
    AttentionDistanceMeter meter(explainer.layers(), explainer.heads(), report.grid);
    // Images are decoded only in the isolated loader, as for explain's pictures.
    const Classifier loader(*vit, decode_limits_from(args));
    std::vector<float> input(loader.input_size());
    int failed = 0;
    for (const ImageToExplain& image : images) {
        try {
            loader.load_image(image.path, input.data());
        } catch (const Error& e) {  // the input failed, not the usage: status 1, as classify
            std::cerr << "vitc explain: error: " << printable(e.what()) << "\n";
            ++failed;
            continue;
        }
        explainer.explain(input.data());
        meter.add(explainer.attention());
        report.images.push_back(image.name);
    }
    if (meter.images() == 0) throw Error("no image could be read: nothing to measure");
    report.distance = meter.distance();
    report.class_token_share = meter.class_token_share();

    const std::vector<unsigned char> png = encode_png(attention_distance_plot(report));
    write_file(out, std::string(png.begin(), png.end()));
    write_file(json_path, to_json(report).dump(2) + "\n");
    print_table(report);
    std::cout << "wrote " << printable(out) << " and " << printable(json_path) << "\n";
    return failed ? kExitInputFailed : 0;
}

}  // namespace vitc::cli
