#pragma once
// Reader for the zip archives torch.save writes (PyTorch >= 1.6):
//   <name>/data.pkl      the pickled object (a state_dict)
//   <name>/data/<key>    one raw little-endian storage per tensor storage
//   <name>/version, <name>/byteorder ...
// PyTorch stores every entry uncompressed (method 0), 64-byte aligned, sizes in the central
// directory (local headers may defer them to a data descriptor), with ZIP64 records when large.
//
// Written here rather than taken from libzip or minizip: only stored entries are needed, and a
// reader of ~200 lines that checks every offset against the file is easier to audit (and fuzz)
// than a general library's whole surface. The central directory is the truth; each local header
// is checked against it; compressed or encrypted entries, multi-disk archives, duplicate names and
// entries overlapping the central directory are refused. Each entry's CRC-32 is checked when it is
// read. The file is memory-mapped; nothing is copied.
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace vitc {

struct ZipEntry {
    std::string name;
    uint64_t data_offset = 0;  // of the entry's first byte in the file
    uint64_t size = 0;
    uint32_t crc32 = 0;
};

class ZipArchive {
public:
    // Throws ModelError naming the file and the reason.
    static ZipArchive open(const std::string& path);
    // The same over bytes in memory (tests and fuzzing); `name` stands for the file in errors.
    static ZipArchive from_bytes(std::string bytes, const std::string& name);

    const std::string& path() const { return path_; }
    const std::vector<ZipEntry>& entries() const { return entries_; }
    const ZipEntry* find(const std::string& name) const;  // nullptr when absent

    // The entry's bytes, checked against its CRC-32 (a ModelError when they differ).
    std::string_view read(const ZipEntry& entry) const;

private:
    struct Bytes;
    void parse();

    std::string path_;
    std::shared_ptr<const Bytes> bytes_;
    std::vector<ZipEntry> entries_;
};

}  // namespace vitc
