#include "train/validation_folder.hpp"

#include <algorithm>
#include <filesystem>

#include "errors.hpp"

namespace vitc::train {

namespace fs = std::filesystem;

namespace {

std::string idx_file(const std::string& dir, const std::string& stem) {
    for (const char* suffix : {".gz", ""})
        if (fs::exists(fs::path(dir) / (stem + suffix))) return (fs::path(dir) / (stem + suffix)).string();
    return "";
}

std::string quoted_list(const std::vector<std::string>& names) {
    std::string s;
    for (const std::string& n : names) s += (s.empty() ? "'" : ", '") + n + "'";
    return s;
}

}  // namespace

size_t append_validation_folder(ImageDataset& data, const std::string& dir, const DecodeLimits& limits) {
    const std::string images = idx_file(dir, "t10k-images-idx3-ubyte"), labels = idx_file(dir, "t10k-labels-idx1-ubyte");
    ImageDataset val = !images.empty() && !labels.empty()
                           ? load_idx_dataset(images, labels)
                           : load_dataset(dir, data.channels, data.height, data.width, limits);
    if (val.channels != data.channels || val.height != data.height || val.width != data.width)
        throw Error(dir + " (--val): its images are " + std::to_string(val.width) + "x" + std::to_string(val.height) +
                    "x" + std::to_string(val.channels) + ", the training images " + std::to_string(data.width) + "x" +
                    std::to_string(data.height) + "x" + std::to_string(data.channels));
    if (val.class_names != data.class_names) {
        std::vector<std::string> extra, missing;
        for (const std::string& c : val.class_names)
            if (!std::count(data.class_names.begin(), data.class_names.end(), c)) extra.push_back(c);
        for (const std::string& c : data.class_names)
            if (!std::count(val.class_names.begin(), val.class_names.end(), c)) missing.push_back(c);
        std::string why;
        if (!extra.empty()) why += "classes not in the training data: " + quoted_list(extra);
        if (!missing.empty()) why += std::string(why.empty() ? "" : "; ") + "training classes missing: " + quoted_list(missing);
        throw Error(dir + " (--val): its class folders are not the training classes (" + why + ")");
    }
    const size_t first = data.size();
    data.pixels.insert(data.pixels.end(), val.pixels.begin(), val.pixels.end());
    data.labels.insert(data.labels.end(), val.labels.begin(), val.labels.end());
    data.skipped.insert(data.skipped.end(), val.skipped.begin(), val.skipped.end());
    return first;
}

}  // namespace vitc::train
