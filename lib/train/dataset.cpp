#include "train/dataset.hpp"

#include <zlib.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>

#include "errors.hpp"
#include "image/decode.hpp"
#include "image/preprocess.hpp"
#include "tasks/image_folder.hpp"

namespace vitc::train {

namespace fs = std::filesystem;

namespace {

// Reads a whole gzip (or plain: zlib passes it through) file, at most `limit` bytes.
std::vector<uint8_t> read_gzip(const std::string& path, size_t limit) {
    gzFile f = gzopen(path.c_str(), "rb");
    if (!f) throw Error(path + ": cannot open");
    std::vector<uint8_t> data;
    uint8_t chunk[1 << 16];
    int n;
    while ((n = gzread(f, chunk, sizeof chunk)) > 0) {
        data.insert(data.end(), chunk, chunk + n);
        if (data.size() > limit) {
            gzclose(f);
            throw Error(path + ": more than " + std::to_string(limit) + " bytes after decompression");
        }
    }
    int code = 0;
    const char* message = gzerror(f, &code);
    const std::string reason = n < 0 ? std::string(message ? message : "read error") : "";
    gzclose(f);
    if (n < 0) throw Error(path + ": " + reason);
    return data;
}

uint32_t big_endian(const uint8_t* p) {
    return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | uint32_t(p[3]);
}

// IDX: magic 0x00 0x00 0x08 (unsigned byte) <dims>, then dims big-endian u32 sizes, then the data.
std::vector<uint32_t> idx_header(const std::vector<uint8_t>& data, const std::string& path, int expected_dims) {
    if (data.size() < 4 || data[0] || data[1] || data[2] != 0x08 || data[3] != expected_dims)
        throw Error(path + ": not an IDX file of unsigned bytes with " + std::to_string(expected_dims) +
                    " dimensions (bad magic number)");
    if (data.size() < 4 + 4 * size_t(expected_dims)) throw Error(path + ": truncated IDX header");
    std::vector<uint32_t> dims;
    uint64_t total = 1;
    for (int i = 0; i < expected_dims; ++i) {
        dims.push_back(big_endian(data.data() + 4 + 4 * i));
        if (dims.back() == 0 || dims.back() > (1u << 24))
            throw Error(path + ": IDX dimension " + std::to_string(i) + " = " + std::to_string(dims.back()) +
                        " is out of range");
        total *= dims.back();
    }
    const uint64_t expected = 4 + 4 * uint64_t(expected_dims) + total;
    if (data.size() != expected)
        throw Error(path + ": IDX header declares " + std::to_string(expected) + " bytes, the file holds " +
                    std::to_string(data.size()));
    return dims;
}

std::string find_file(const std::string& dir, const std::string& stem) {
    for (const char* suffix : {".gz", ""}) {
        const fs::path p = fs::path(dir) / (stem + suffix);
        if (fs::exists(p)) return p.string();
    }
    return "";
}

bool contains_case_insensitive(std::string text, const std::string& word) {
    std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return std::tolower(c); });
    return text.find(word) != std::string::npos;
}

ImageDataset load_folder_dataset(const std::string& root, int channels, int height, int width) {
    std::vector<std::string> classes;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(root, ec))
        if (entry.is_directory() && entry.path().filename().string().rfind('.', 0) != 0)
            classes.push_back(entry.path().filename().string());
    if (ec) throw Error(root + ": cannot list: " + ec.message());
    std::sort(classes.begin(), classes.end());
    const ImageFolder folder = list_image_folder(root, false, classes);
    ImageDataset d;
    d.class_names = classes;
    std::vector<cv::Mat> decoded;
    std::vector<int> labels;
    bool all_gray = true;
    for (const ImageEntry& e : folder.images) {
        if (e.label < 0) {
            d.skipped.push_back(e.relative + ": not in a class subfolder");
            continue;
        }
        try {
            cv::Mat m = decode_image(e.path);
            all_gray = all_gray && m.channels() == 1;
            if (!height) {
                height = m.rows;
                width = m.cols;
            }
            decoded.push_back(std::move(m));
            labels.push_back(e.label);
        } catch (const Error& error) {
            d.skipped.push_back(error.what());
        }
    }
    std::vector<int> count(classes.size(), 0);
    for (int l : labels) ++count[l];
    const auto used = std::count_if(count.begin(), count.end(), [](int c) { return c > 0; });
    if (decoded.empty())
        throw Error(root + ": no usable images (expected one subfolder of images per class, e.g. " + root +
                    "/cat/1.png)");
    if (used < 2)
        throw Error(root + ": images of only one class ('" + classes[labels.front()] +
                    "'); training a classifier needs at least two class subfolders with images");
    d.channels = channels ? channels : (all_gray ? 1 : 3);
    d.height = height;
    d.width = width;
    Preprocessing p;  // vitc's resize, without rescale or normalisation: values stay 0..255
    p.resize_height = height;
    p.resize_width = width;
    p.do_rescale = false;
    p.do_normalize = false;
    std::vector<float> values(d.image_bytes());
    d.pixels.reserve(decoded.size() * d.image_bytes());
    for (size_t i = 0; i < decoded.size(); ++i) {
        preprocess_image(decoded[i], p, d.channels, values.data());
        for (float v : values) d.pixels.push_back(static_cast<uint8_t>(std::clamp(std::lround(v), 0L, 255L)));
        d.labels.push_back(labels[i]);
    }
    return d;
}

}  // namespace

const std::vector<std::string>& fashion_mnist_labels() {
    static const std::vector<std::string> labels = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                                    "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
    return labels;
}

ImageDataset load_idx_dataset(const std::string& images_file, const std::string& labels_file) {
    const std::vector<uint8_t> images = read_gzip(images_file, size_t(1) << 31);
    const std::vector<uint8_t> labels = read_gzip(labels_file, size_t(1) << 28);
    const std::vector<uint32_t> image_dims = idx_header(images, images_file, 3);
    const std::vector<uint32_t> label_dims = idx_header(labels, labels_file, 1);
    if (image_dims[0] != label_dims[0])
        throw Error(labels_file + ": " + std::to_string(label_dims[0]) + " labels for " + std::to_string(image_dims[0]) +
                    " images in " + images_file);
    ImageDataset d;
    d.channels = 1;
    d.height = static_cast<int>(image_dims[1]);
    d.width = static_cast<int>(image_dims[2]);
    d.pixels.assign(images.begin() + 16, images.end());
    int classes = 0;
    for (size_t i = 8; i < labels.size(); ++i) {
        d.labels.push_back(labels[i]);
        classes = std::max(classes, labels[i] + 1);
    }
    const bool fashion = contains_case_insensitive(images_file, "fashion");
    if (classes > 10) throw Error(labels_file + ": label " + std::to_string(classes - 1) + " (MNIST labels are 0 to 9)");
    for (int k = 0; k < 10; ++k) d.class_names.push_back(fashion ? fashion_mnist_labels()[k] : std::to_string(k));
    return d;
}

ImageDataset load_dataset(const std::string& path, int channels, int height, int width) {
    std::error_code ec;
    if (!fs::is_directory(path, ec)) throw Error(path + ": not a folder");
    const std::string images = find_file(path, "train-images-idx3-ubyte");
    const std::string labels = find_file(path, "train-labels-idx1-ubyte");
    if (!images.empty() || !labels.empty()) {
        if (images.empty() || labels.empty())
            throw Error(path + ": IDX data needs both train-images-idx3-ubyte.gz and train-labels-idx1-ubyte.gz");
        ImageDataset d = load_idx_dataset(images, labels);
        if ((channels && channels != 1) || (height && height != d.height) || (width && width != d.width))
            throw Error(path + ": the IDX images are " + std::to_string(d.height) + "x" + std::to_string(d.width) +
                        " gray; the architecture asks for another size or channel count");
        return d;
    }
    return load_folder_dataset(path, channels, height, width);
}

}  // namespace vitc::train
