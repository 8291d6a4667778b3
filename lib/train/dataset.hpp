#pragma once
// Training data, decoded once into a compact uint8 cache [images, C, H, W] so that no epoch
// decodes again, with a label per image and the class names.
#include <cstdint>
#include <string>
#include <vector>

#include "image/decode.hpp"

namespace vitc::train {

struct ImageDataset {
    int channels = 0, height = 0, width = 0;
    std::vector<uint8_t> pixels;  // [size(), C, H, W]
    std::vector<int> labels;      // [size()] in [0, class_names.size())
    std::vector<std::string> class_names;
    std::vector<std::string> skipped;  // "file: reason" for images that could not be used

    size_t size() const { return labels.size(); }
    size_t image_bytes() const { return static_cast<size_t>(channels) * height * width; }
    const uint8_t* image(size_t i) const { return pixels.data() + i * image_bytes(); }
};

// A folder with one subfolder per class (sorted names become the labels), or a folder with the
// MNIST/Fashion-MNIST IDX files train-images-idx3-ubyte[.gz] and train-labels-idx1-ubyte[.gz].
// Folder images are converted to `channels` (0: 1 when every image is gray, else 3) and resized
// to height x width (0: the size in the first readable image's header) as vitc's preprocessing
// does, one at a time straight into the cache; with limits.worker_executable set they are decoded
// in a child process (image/isolated_loader.hpp). Unreadable images are recorded in `skipped`.
// Throws Error for an empty folder, a single class, bad IDX files, or a cache larger than half
// the machine's memory.
ImageDataset load_dataset(const std::string& path, int channels = 0, int height = 0, int width = 0,
                          const DecodeLimits& limits = {});

// The IDX pair (see load_dataset); every size in the headers is checked against the data.
ImageDataset load_idx_dataset(const std::string& images_file, const std::string& labels_file);

// The class names of Fashion-MNIST, in label order.
const std::vector<std::string>& fashion_mnist_labels();

}  // namespace vitc::train
