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

std::string label_match_key(const std::string& name) {
    std::string key;
    for (char c : lower(name))
        if (c != ' ' && c != '-' && c != '_' && c != '/' && c != '\\') key += c;
    return key;
}

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
    std::map<std::string, int> label_of_folder;  // the first label wins where two share a key
    for (size_t i = 0; i < labels.size(); ++i) label_of_folder.emplace(label_match_key(labels[i]), static_cast<int>(i));
    // Labelled when a top-level folder names a label; then every top-level folder is listed.
    bool labelled = false;
    {
        fs::directory_iterator it(root, ec), end;
        for (; !ec && it != end; it.increment(ec)) {
            std::error_code type_ec;
            if (it->symlink_status(type_ec).type() == fs::file_type::directory &&
                label_of_folder.count(label_match_key(it->path().filename().string())))
                labelled = true;
        }
        ec.clear();
    }

    ImageFolder folder;
    // Folders still to list: (path, depth, label of the top-level folder it lies in).
    struct Pending {
        fs::path path;
        int depth;
        int label;
    };
    std::vector<Pending> pending{{fs::path(root), 0, -1}};
    while (!pending.empty()) {
        const Pending current = pending.back();
        pending.pop_back();
        fs::directory_iterator it(current.path, ec), end;
        for (; !ec && it != end; it.increment(ec)) {
            const fs::path relative = it->path().lexically_relative(root);
            const std::string name = it->path().filename().string();
            std::error_code type_ec;
            if (it->symlink_status(type_ec).type() == fs::file_type::directory) {
                const auto match = current.depth == 0 ? label_of_folder.find(label_match_key(name)) : label_of_folder.end();
                const bool descend = recursive || (labelled && current.depth == 0);
                if (descend && name.rfind('.', 0) != 0)
                    pending.push_back({it->path(), current.depth + 1,
                                       match != label_of_folder.end() ? match->second : current.label});
                continue;
            }
            if (it->is_directory(type_ec)) continue;  // a symbolic link to a folder: not followed
            if (name.rfind('.', 0) == 0 || !has_image_extension(relative.string())) continue;
            folder.images.push_back({it->path().string(), relative.string(), current.label});
        }
        if (ec) {
            if (current.depth == 0) throw Error(root + ": cannot list: " + ec.message());
            folder.unreadable.push_back({current.path.lexically_relative(root).string(), ec.message()});
            ec.clear();
        }
    }
    std::sort(folder.images.begin(), folder.images.end(),
              [](const ImageEntry& a, const ImageEntry& b) { return a.relative < b.relative; });
    folder.labelled = labelled;
    if (labelled) {
        std::map<std::string, size_t> not_scored;
        for (const ImageEntry& image : folder.images)
            if (image.label < 0) {
                const fs::path relative(image.relative);
                ++not_scored[std::next(relative.begin()) == relative.end() ? "(top level)" : relative.begin()->string()];
            }
        folder.not_scored.assign(not_scored.begin(), not_scored.end());
    }
    std::sort(folder.unreadable.begin(), folder.unreadable.end(),
              [](const UnreadableFolder& a, const UnreadableFolder& b) { return a.relative < b.relative; });
    return folder;
}

}  // namespace vitc
