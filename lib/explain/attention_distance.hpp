#pragma once
// "A CNN is a restricted self-attention", measured: how far each ViT head looks, by depth, next to
// how far a CNN's layers can see.
//
// Mean attention distance (Dosovitskiy et al., 2021, Figure 7), per block and head:
//
//   distance(h) = mean over images, mean over query patches i of  sum_j A_h[i, j] * d(i, j)
//   d(i, j)     = patch_size * || grid position of i - grid position of j ||   (input pixels,
//                 between patch centres)
//
// The class token is excluded as a query and as a key; the rows are NOT renormalised after its
// column is dropped (as the paper's code): attention a patch gives the class token adds nothing
// to the distance. How much that is, is reported beside it (class_token_share), so a head that
// mostly reads the class token is not mistaken for a local one.
//
// A CNN's theoretical receptive field after each convolution, in input pixels, along the longest
// path (the residual shortcut is never longer): r += (k - 1) * jump; jump *= stride (a max pool
// counts as a k x k window too).
#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <opencv2/core.hpp>
#include <string>
#include <vector>

namespace vitc {

class ViTModel;
class ResNetModel;

// Where the patch tokens lie: `prefix` non-patch tokens first (0 or 1: a class token), then
// height x width patches in raster order.
struct PatchGrid {
    int64_t height = 0, width = 0, patch_size = 0, prefix = 0;
    int64_t patches() const { return height * width; }
    int64_t tokens() const { return prefix + patches(); }
};

// The grid of `model` at its preprocessed input size.
PatchGrid patch_grid(const ViTModel& model);

// d(i, j) in pixels for every pair of patches: [patches, patches].
std::vector<double> patch_distances(const PatchGrid& grid);

// One image's one layer: attention [heads, T, T] (rows sum to 1) -> per head the mean over query
// patches of sum_j A[i, j] d(i, j), j over patches only, not renormalised.
std::vector<double> mean_attention_distance(const std::vector<float>& attention, int64_t heads, const PatchGrid& grid);

// Per head the mean over query patches of the attention given to the class token (0 without one).
std::vector<double> class_token_share(const std::vector<float>& attention, int64_t heads, const PatchGrid& grid);

// The distance of a head that attends uniformly to every patch whose centre lies within a
// window x window square of pixels centred on the query's centre (all patches: window <= 0).
// A convolution with that receptive field, seen as attention restricted to its window.
double uniform_window_distance(const PatchGrid& grid, int64_t window);

// Averages the two quantities above over images, for every block and head.
class AttentionDistanceMeter {
public:
    AttentionDistanceMeter(int64_t layers, int64_t heads, PatchGrid grid);
    // One image: per layer [heads, T, T].
    void add(const std::vector<std::vector<float>>& attention);
    int64_t images() const { return images_; }
    std::vector<std::vector<double>> distance() const;           // [layer][head] pixels
    std::vector<std::vector<double>> class_token_share() const;  // [layer][head] in [0, 1]

private:
    int64_t layers_, heads_, images_ = 0;
    PatchGrid grid_;
    std::vector<double> distances_;  // d(i, j), computed once
    std::vector<std::vector<double>> distance_sum_, share_sum_;
};

struct ReceptiveField {
    std::string stage;  // "stem", "layer1" .. "layer4"
    std::string layer;  // the convolution's name, e.g. "layer2.0.conv1", or "maxpool"
    int64_t size = 1;   // pixels of the input one output value can see (per side)
    int64_t jump = 1;   // input pixels between neighbouring outputs
    bool stage_end = false;  // the last layer of the stem or of a stage (layer1..layer4)
};

// After every convolution (and the ImageNet stem's max pool) on the longest path, in order.
std::vector<ReceptiveField> receptive_fields(const ResNetModel& model);

// The whole comparison: what `vitc explain --attention-distance` writes.
struct AttentionDistanceReport {
    std::string vit;                              // the ViT's directory or name
    PatchGrid grid;
    int64_t image_height = 0, image_width = 0;    // the model's input in pixels
    std::vector<std::string> images;
    std::vector<std::vector<double>> distance;    // [block][head] pixels
    std::vector<std::vector<double>> class_token_share;
    double uniform_distance = 0;                  // every patch attended alike: a fully global head
    std::string cnn;                              // empty: no CNN compared
    std::vector<ReceptiveField> cnn_fields;
    std::vector<double> cnn_uniform_distance;     // uniform_window_distance of each field
};

// The report's model half, before any image: the ViT's grid and input size, the uniform
// distance, and with a CNN (may be null) its receptive fields and their uniform distances.
AttentionDistanceReport attention_distance_models(const ViTModel& vit, const std::string& vit_name,
                                                  const ResNetModel* cnn, const std::string& cnn_name);

// The per-block, per-head table, the CNN's fields and the conventions, as JSON.
nlohmann::json to_json(const AttentionDistanceReport& report);

// The plot (Figure 7's shape): x the depth (ViT block, or CNN layer: each one spatial mixing
// step), y pixels; one dot per head, the CNN's receptive field as a line, and the distance of
// attention spread uniformly over that field; legend, axis labels and a caption with the
// conventions.
cv::Mat attention_distance_plot(const AttentionDistanceReport& report);

}  // namespace vitc
