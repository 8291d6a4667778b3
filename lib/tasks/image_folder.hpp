#pragma once
// Finding the images of a folder, and their true labels when subfolders are named after the
// model's labels (e.g. "Ankle boot/", or "T-shirt_top/" for the label "T-shirt/top").
#include <string>
#include <vector>

namespace vitc {

struct ImageEntry {
    std::string path;      // as given by the file system walk
    std::string relative;  // relative to the folder, for output rows
    int label = -1;        // index of the true label, or -1 when unknown
};

struct UnreadableFolder {
    std::string relative;  // relative to the listed folder
    std::string reason;    // e.g. "Permission denied"
};

struct ImageFolder {
    std::vector<ImageEntry> images;  // sorted by relative path
    bool labelled = false;           // at least one subfolder is named after a label
    std::vector<UnreadableFolder> unreadable;  // subfolders that were to be listed but could not be
    // In a labelled folder, the images whose folder names no label (classified, not scored), by
    // top-level folder ("(top level)" for the images beside the label folders), sorted by name.
    std::vector<std::pair<std::string, size_t>> not_scored;
};

// The key a folder name and a label are matched on: ASCII case ignored, and ' ', '-', '_', '/' and
// backslash left out ("T-shirt-top", "t_shirt_top", "TShirt top" and "T-shirt/top" all match).
std::string label_match_key(const std::string& name);

// Folder name for a label: '/' and '\' (impossible in folder names) become '_'.
std::string label_folder_name(const std::string& label);

// True for the file extensions of images (case-insensitive): those OpenCV decodes, and GIF, which
// it does not, so that a GIF in a batch is reported rather than silently left out.
bool has_image_extension(const std::string& path);

// Lists the images directly in `root`, in its subfolders when any of them is named after a label
// (every image of a labelled folder is classified; those outside label folders are counted in
// not_scored), and with `recursive` in every subfolder at any depth. Symbolic links to folders are not followed (no loops); a subfolder that
// cannot be read is recorded in `unreadable`, never skipped without a word.
ImageFolder list_image_folder(const std::string& root, bool recursive, const std::vector<std::string>& labels);

}  // namespace vitc
