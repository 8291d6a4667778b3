#include "train/dataset.hpp"

#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <memory>

#include "errors.hpp"
#include "image/decode.hpp"
#include "image/image_size.hpp"
#include "image/isolated_loader.hpp"
#include "image/preprocess.hpp"
#include "io/read_file.hpp"
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

// The first image whose header gives its size, for a dataset whose size the architecture leaves
// open. Only the header is read: nothing is decoded in this process.
cv::Size first_image_size(const ImageFolder& folder, const DecodeLimits& limits) {
    for (const ImageEntry& e : folder.images) {
        if (e.label < 0) continue;
        try {
            const std::vector<unsigned char> bytes = read_regular_file_bytes(e.path, limits.max_file_bytes, "image");
            const auto size = peek_image_size(bytes);
            if (size && size->width > 0 && size->height > 0 && size->width * size->height <= limits.max_pixels)
                return {static_cast<int>(size->width), static_cast<int>(size->height)};
        } catch (const Error&) {
        }
    }
    return {};
}

// Half the machine's memory: the most the uint8 cache may take.
uint64_t cache_budget_bytes() {
    const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    return pages > 0 && page > 0 ? uint64_t(pages) * uint64_t(page) / 2 : uint64_t(4) << 30;
}

ImageDataset load_folder_dataset(const std::string& root, int channels, int height, int width,
                                 const DecodeLimits& limits) {
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
    if (!height) {
        const cv::Size size = first_image_size(folder, limits);
        height = size.height, width = size.width;
        if (!height)
            throw Error(root + ": no usable images (expected one subfolder of images per class, e.g. " + root +
                        "/cat/1.png)");
    }
    // Every image is decoded and resized one at a time, straight into the uint8 cache, in a child
    // process where limits.worker_executable is set (image/isolated_loader.hpp): a decoder bomb
    // costs that image, and memory holds only the cache, whatever size the files are. Unless the
    // architecture fixes the channels, images are kept in colour and the cache is made grey at
    // the end when every image was grey.
    const int load_channels = channels ? channels : 3;
    const uint64_t image_bytes = uint64_t(load_channels) * height * width;
    if (image_bytes * folder.images.size() > cache_budget_bytes())
        throw Error(root + ": " + std::to_string(folder.images.size()) + " images at " + std::to_string(width) + "x" +
                    std::to_string(height) + " would take " + std::to_string((image_bytes * folder.images.size()) >> 20) +
                    " MiB decoded, more than half this machine's memory; pass --image-size (or an --arch config "
                    "with a smaller image_size)");
    d.pixels.reserve(d.pixels.size() + image_bytes * folder.images.size());  // within the budget just checked
    Preprocessing p;  // vitc's resize, without rescale or normalisation: values stay 0..255
    p.resize_height = height;
    p.resize_width = width;
    p.do_rescale = false;
    p.do_normalize = false;
    std::unique_ptr<IsolatedImageLoader> loader;
    DecodeLimits loading = limits;
    loading.strict_input = false;  // grey images are loaded as colour on purpose (see above)
    if (!limits.worker_executable.empty()) loader = std::make_unique<IsolatedImageLoader>(loading, p, load_channels);
    std::vector<float> values(image_bytes);
    bool all_grey = true;
    for (const ImageEntry& e : folder.images) {
        if (e.label < 0) {
            d.skipped.push_back(e.relative + ": not in a class subfolder");
            continue;
        }
        uint32_t conversions = 0;
        try {
            if (loader) {
                double decode_seconds = 0, preprocess_seconds = 0;
                loader->load(e.path, values.data(), values.size(), &decode_seconds, &preprocess_seconds, &conversions,
                             [] { return false; });
            } else {
                const cv::Mat m = decode_image(e.path, limits);
                conversions = input_conversions(m, p, load_channels);
                preprocess_image(m, p, load_channels, values.data(), limits.max_pixels);
            }
        } catch (const Error& error) {
            d.skipped.push_back(error.what());
            continue;
        }
        all_grey = all_grey && (conversions & kGreyToColour);
        for (float v : values) d.pixels.push_back(static_cast<uint8_t>(std::clamp(std::lround(v), 0L, 255L)));
        d.labels.push_back(e.label);
    }
    std::vector<int> count(classes.size(), 0);
    for (int l : d.labels) ++count[l];
    const auto used = std::count_if(count.begin(), count.end(), [](int c) { return c > 0; });
    if (d.labels.empty())
        throw Error(root + ": no usable images (expected one subfolder of images per class, e.g. " + root +
                    "/cat/1.png)");
    if (used < 2)
        throw Error(root + ": images of only one class ('" + classes[d.labels.front()] +
                    "'); training a classifier needs at least two class subfolders with images");
    d.channels = load_channels;
    d.height = height;
    d.width = width;
    if (!channels && all_grey) {  // the three channels are equal: keep one
        const size_t plane = size_t(height) * width;
        for (size_t i = 0; i < d.size(); ++i)
            std::copy_n(d.pixels.data() + i * 3 * plane, plane, d.pixels.data() + i * plane);
        d.pixels.resize(d.size() * plane);
        d.pixels.shrink_to_fit();
        d.channels = 1;
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

ImageDataset load_dataset(const std::string& path, int channels, int height, int width, const DecodeLimits& limits) {
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
    return load_folder_dataset(path, channels, height, width, limits);
}

}  // namespace vitc::train
