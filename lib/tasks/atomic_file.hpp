#pragma once
// An output file that appears complete or not at all: rows go to a temporary file beside the
// destination (flushed as they are written) and commit() renames it into place.
#include <fstream>
#include <string>

namespace vitc {

class AtomicFile {
public:
    explicit AtomicFile(const std::string& path);  // throws Error if the temporary cannot be made
    ~AtomicFile();                                 // removes the temporary unless committed
    AtomicFile(const AtomicFile&) = delete;
    AtomicFile& operator=(const AtomicFile&) = delete;

    std::ostream& stream() { return out_; }
    const std::string& temporary_path() const { return temporary_; }
    void commit();  // throws Error when the data cannot be written or renamed

private:
    std::string path_, temporary_;
    std::ofstream out_;
    bool committed_ = false;
};

}  // namespace vitc
