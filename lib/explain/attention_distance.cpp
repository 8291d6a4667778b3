#include "explain/attention_distance.hpp"

#include <cmath>
#include <nlohmann/json.hpp>

#include "errors.hpp"
#include "models/resnet.hpp"
#include "models/vit.hpp"

namespace vitc {

PatchGrid patch_grid(const ViTModel& model) {
    const Preprocessing& p = model.preprocessing();
    const int64_t patch = model.config().patch_size;
    return {p.output_height() / patch, p.output_width() / patch, patch, model.has_class_token() ? 1 : 0};
}

std::vector<double> patch_distances(const PatchGrid& grid) {
    const int64_t n = grid.patches();
    std::vector<double> d(n * n);
    for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j < n; ++j) {
            const double dy = static_cast<double>(i / grid.width - j / grid.width);
            const double dx = static_cast<double>(i % grid.width - j % grid.width);
            d[i * n + j] = static_cast<double>(grid.patch_size) * std::sqrt(dy * dy + dx * dx);
        }
    return d;
}

namespace {

void check_attention(const std::vector<float>& attention, int64_t heads, const PatchGrid& grid) {
    const int64_t T = grid.tokens();
    if (static_cast<int64_t>(attention.size()) != heads * T * T)
        throw Error("attention has " + std::to_string(attention.size()) + " values, expected " + std::to_string(heads) +
                    " heads x " + std::to_string(T) + " x " + std::to_string(T) + " tokens");
}

// distances: patch_distances(grid), computed once by the caller that loops over images.
std::vector<double> mean_distance(const std::vector<float>& attention, int64_t heads, const PatchGrid& grid,
                                  const std::vector<double>& distances) {
    check_attention(attention, heads, grid);
    const int64_t T = grid.tokens(), n = grid.patches(), p = grid.prefix;
    std::vector<double> out(heads, 0.0);
    for (int64_t h = 0; h < heads; ++h) {
        double sum = 0;
        for (int64_t i = 0; i < n; ++i) {
            const float* row = attention.data() + (h * T + p + i) * T + p;  // query patch i, key patches
            const double* d = distances.data() + i * n;
            for (int64_t j = 0; j < n; ++j) sum += row[j] * d[j];
        }
        out[h] = sum / static_cast<double>(n);
    }
    return out;
}

}  // namespace

std::vector<double> mean_attention_distance(const std::vector<float>& attention, int64_t heads, const PatchGrid& grid) {
    return mean_distance(attention, heads, grid, patch_distances(grid));
}

std::vector<double> class_token_share(const std::vector<float>& attention, int64_t heads, const PatchGrid& grid) {
    check_attention(attention, heads, grid);
    const int64_t T = grid.tokens(), n = grid.patches(), p = grid.prefix;
    std::vector<double> out(heads, 0.0);
    if (p == 0) return out;
    for (int64_t h = 0; h < heads; ++h) {
        for (int64_t i = 0; i < n; ++i) out[h] += attention[(h * T + p + i) * T];  // column 0: the class token
        out[h] /= static_cast<double>(n);
    }
    return out;
}

double uniform_window_distance(const PatchGrid& grid, int64_t window) {
    const std::vector<double> d = patch_distances(grid);
    const int64_t n = grid.patches();
    const double half = static_cast<double>(window) / 2.0;
    double sum = 0;
    for (int64_t i = 0; i < n; ++i) {
        double row = 0;
        int64_t inside = 0;
        for (int64_t j = 0; j < n; ++j) {
            // Centres within the square: |dy|, |dx| in pixels at most half the window.
            const double dy = static_cast<double>(std::abs(i / grid.width - j / grid.width) * grid.patch_size);
            const double dx = static_cast<double>(std::abs(i % grid.width - j % grid.width) * grid.patch_size);
            if (window > 0 && (dy > half || dx > half)) continue;
            row += d[i * n + j];
            ++inside;
        }
        sum += row / static_cast<double>(inside);  // the query's own patch is always inside
    }
    return sum / static_cast<double>(n);
}

AttentionDistanceMeter::AttentionDistanceMeter(int64_t layers, int64_t heads, PatchGrid grid)
    : layers_(layers),
      heads_(heads),
      grid_(grid),
      distances_(patch_distances(grid)),
      distance_sum_(layers, std::vector<double>(heads, 0.0)),
      share_sum_(layers, std::vector<double>(heads, 0.0)) {}

void AttentionDistanceMeter::add(const std::vector<std::vector<float>>& attention) {
    if (static_cast<int64_t>(attention.size()) != layers_)
        throw Error("attention of " + std::to_string(attention.size()) + " layers, expected " + std::to_string(layers_));
    for (int64_t l = 0; l < layers_; ++l) {
        const std::vector<double> d = mean_distance(attention[l], heads_, grid_, distances_);
        const std::vector<double> s = vitc::class_token_share(attention[l], heads_, grid_);
        for (int64_t h = 0; h < heads_; ++h) {
            distance_sum_[l][h] += d[h];
            share_sum_[l][h] += s[h];
        }
    }
    ++images_;
}

namespace {

std::vector<std::vector<double>> divided(std::vector<std::vector<double>> sums, int64_t count) {
    if (count == 0) throw Error("no image was measured");
    for (auto& row : sums)
        for (double& v : row) v /= static_cast<double>(count);
    return sums;
}

}  // namespace

std::vector<std::vector<double>> AttentionDistanceMeter::distance() const { return divided(distance_sum_, images_); }
std::vector<std::vector<double>> AttentionDistanceMeter::class_token_share() const { return divided(share_sum_, images_); }

std::vector<ReceptiveField> receptive_fields(const ResNetModel& model) {
    std::vector<ReceptiveField> fields;
    ReceptiveField r;
    const auto step = [&](const std::string& stage, const std::string& layer, int64_t kernel, int64_t stride) {
        r.stage = stage;
        r.layer = layer;
        r.size += (kernel - 1) * r.jump;
        r.jump *= stride;
        fields.push_back(r);
    };
    step("stem", model.stem().name, model.stem().kernel, model.stem().stride);
    if (model.config().stem == ResNetStem::ImageNet) step("stem", "maxpool", 3, 2);
    fields.back().stage_end = true;
    // The blocks are stored stage after stage: config().layers[s] of them in stage s.
    size_t block = 0;
    for (size_t s = 0; s < model.config().layers.size(); ++s) {
        for (int b = 0; b < model.config().layers[s]; ++b, ++block)
            for (const ConvParameters& conv : model.blocks().at(block).convs)  // the residual branch, in order
                step("layer" + std::to_string(s + 1), conv.name, conv.kernel, conv.stride);
        fields.back().stage_end = true;
    }
    return fields;
}

nlohmann::json to_json(const AttentionDistanceReport& report) {
    using nlohmann::json;
    json blocks = json::array();
    for (size_t l = 0; l < report.distance.size(); ++l) {
        double mean = 0;
        for (double d : report.distance[l]) mean += d / static_cast<double>(report.distance[l].size());
        blocks.push_back({{"block", l}, {"distance", report.distance[l]}, {"mean_distance", mean},
                          {"class_token_share", report.class_token_share[l]}});
    }
    json out = {
        {"quantity", "mean attention distance (Dosovitskiy et al. 2021, Figure 7): per head, the mean over query "
                     "patches of sum_j A_ij * d(i, j), averaged over the images"},
        {"unit", "input pixels between patch centres (patch_size x grid distance)"},
        {"class_token", report.grid.prefix ? "excluded as a query and as a key" : "none"},
        {"renormalised", false},
        {"renormalisation", "rows are not renormalised after the class-token column is dropped (as the paper's code); "
                            "class_token_share is the attention a patch gives the class token, averaged"},
        {"vit", {{"model", report.vit},
                 {"input", {report.image_height, report.image_width}},
                 {"patch_size", report.grid.patch_size},
                 {"grid", {report.grid.height, report.grid.width}},
                 {"class_token", report.grid.prefix == 1},
                 {"heads", report.distance.empty() ? 0 : report.distance.front().size()},
                 {"uniform_distance", report.uniform_distance}}},
        {"blocks", blocks},
        {"images", report.images},
    };
    if (!report.cnn.empty()) {
        json layers = json::array();
        for (size_t i = 0; i < report.cnn_fields.size(); ++i) {
            const ReceptiveField& f = report.cnn_fields[i];
            layers.push_back({{"depth", i + 1}, {"stage", f.stage}, {"layer", f.layer}, {"receptive_field", f.size}, {"jump", f.jump},
                              {"stage_end", f.stage_end}, {"uniform_distance", report.cnn_uniform_distance.at(i)}});
        }
        out["cnn"] = {{"model", report.cnn},
                      {"receptive_field", "theoretical, input pixels per side, longest path: r += (k-1)*jump; jump *= stride"},
                      {"uniform_distance", "the distance of attention spread uniformly over the patches of the ViT's "
                                           "grid whose centres lie in the receptive field"},
                      {"layers", layers}};
    }
    return out;
}

AttentionDistanceReport attention_distance_models(const ViTModel& vit, const std::string& vit_name,
                                                  const ResNetModel* cnn, const std::string& cnn_name) {
    AttentionDistanceReport report;
    report.vit = vit_name;
    report.grid = patch_grid(vit);
    report.image_height = vit.preprocessing().output_height();
    report.image_width = vit.preprocessing().output_width();
    report.uniform_distance = uniform_window_distance(report.grid, 0);
    if (cnn) {
        report.cnn = cnn_name;
        report.cnn_fields = receptive_fields(*cnn);
        for (const ReceptiveField& f : report.cnn_fields)
            report.cnn_uniform_distance.push_back(uniform_window_distance(report.grid, f.size));
    }
    return report;
}

}  // namespace vitc
