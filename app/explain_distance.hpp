#pragma once
// vitc explain --attention-distance: the ViT's mean attention distance per head by depth over a
// set of images, against a CNN's receptive field per layer (lib/explain/attention_distance.hpp),
// as a PNG plot and a JSON table.
#include <cxxopts.hpp>
#include <string>
#include <vector>

#include "models/model.hpp"

namespace vitc::cli {

struct ImageToExplain {
    std::string path;
    std::string name;  // for the picture's title and its file name: relative to a folder given
};

// vit: the --model loaded; images: listed already; out: FILE.png (FILE.json beside it).
int explain_attention_distance(const cxxopts::ParseResult& args, const Model& vit,
                               const std::vector<ImageToExplain>& images, const std::string& out);

}  // namespace vitc::cli
