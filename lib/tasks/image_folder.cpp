#include "tasks/image_folder.hpp"

#include <algorithm>
#include <filesystem>
#include <map>

#include "errors.hpp"

namespace vitc {

namespace fs = std::filesystem;

namespace {

std::string lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return s;
}

}  // namespace

std::string label_folder_name(const std::string& label) {
    std::string name = label;
    std::replace(name.begin(), name.end(), '/', '_');
    std::replace(name.begin(), name.end(), '\\', '_');
    return name;
}

bool has_image_extension(const std::string& path) {
    static const char* const extensions[] = {".png", ".jpg", ".jpeg", ".jpe", ".bmp", ".dib", ".tif", ".tiff",
                                             ".webp", ".pgm", ".ppm", ".pbm", ".pnm", ".pxm", ".jp2", ".sr",
                                             ".ras", ".exr", ".hdr", ".pic", ".pfm", ".gif"};
    const std::string ext = lower(fs::path(path).extension().string());
    return std::any_of(std::begin(extensions), std::end(extensions), [&](const char* e) { return ext == e; });
}

ImageFolder list_image_folder(const std::string& root, bool recursive, const std::vector<std::string>& labels) {
    std::error_code ec;
    if (!fs::is_directory(root, ec)) throw Error(root + ": not a folder");
    std::map<std::string, int> label_of_folder;
    for (size_t i = 0; i < labels.size(); ++i) label_of_folder[lower(label_folder_name(labels[i]))] = static_cast<int>(i);

    ImageFolder folder;
    const auto options = fs::directory_options::skip_permission_denied;
    for (fs::recursive_directory_iterator it(root, options, ec), end; !ec && it != end; it.increment(ec)) {
        const fs::path relative = it->path().lexically_relative(root);
        const std::string top = relative.begin()->string();
        const auto labelled = label_of_folder.find(lower(top));
        if (it->is_directory(ec)) {
            const bool descend = recursive || (it.depth() == 0 && labelled != label_of_folder.end());
            if (!descend || top.rfind('.', 0) == 0) it.disable_recursion_pending();
            if (it.depth() == 0 && labelled != label_of_folder.end()) folder.labelled = true;
            continue;
        }
        if (relative.filename().string().rfind('.', 0) == 0 || !has_image_extension(relative.string())) continue;
        ImageEntry entry{it->path().string(), relative.string(), -1};
        if (it.depth() > 0 && labelled != label_of_folder.end()) entry.label = labelled->second;
        folder.images.push_back(std::move(entry));
    }
    if (ec) throw Error(root + ": cannot list: " + ec.message());
    std::sort(folder.images.begin(), folder.images.end(),
              [](const ImageEntry& a, const ImageEntry& b) { return a.relative < b.relative; });
    return folder;
}

}  // namespace vitc
