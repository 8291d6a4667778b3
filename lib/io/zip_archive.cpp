#include "io/zip_archive.hpp"

#include <sys/mman.h>
#include <unistd.h>
#include <zlib.h>

#include <cerrno>
#include <cstring>
#include <set>

#include "errors.hpp"
#include "io/read_file.hpp"

namespace vitc {

namespace {

constexpr uint32_t kLocalHeader = 0x04034b50, kCentralHeader = 0x02014b50, kEndOfCentralDirectory = 0x06054b50,
                   kZip64End = 0x06064b50, kZip64Locator = 0x07064b50;
constexpr size_t kEndSize = 22, kCentralSize = 46, kLocalSize = 30, kZip64EndSize = 56, kZip64LocatorSize = 20;
constexpr uint64_t kMaxEntries = 1 << 20;  // a ResNet-152 checkpoint has ~1,000

}  // namespace

// The archive's bytes: a read-only mapping of the file, or a string (from_bytes).
struct ZipArchive::Bytes {
    const uint8_t* data = nullptr;
    size_t size = 0;
    void* mapping = nullptr;
    std::string owned;
    ~Bytes() {
        if (mapping) munmap(mapping, size);
    }

    // Little-endian integers at `at`; the caller has checked at + width <= size.
    uint64_t le(uint64_t at, int width) const {
        uint64_t v = 0;
        for (int i = width - 1; i >= 0; --i) v = (v << 8) | data[at + static_cast<uint64_t>(i)];
        return v;
    }
};

ZipArchive ZipArchive::open(const std::string& path) {
    int64_t size = 0;
    int fd = -1;
    try {
        fd = open_regular_file(path, &size, "checkpoint");  // a FIFO or a device is refused unread
    } catch (const FileError& e) {
        throw ModelError(path, e.reason());
    }
    auto bytes = std::make_shared<Bytes>();
    bytes->size = static_cast<size_t>(size);
    if (size > 0) {
        bytes->mapping = mmap(nullptr, bytes->size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (bytes->mapping == MAP_FAILED) {
            const int saved = errno;
            bytes->mapping = nullptr;
            ::close(fd);
            throw ModelError(path, std::string("cannot map file: ") + std::strerror(saved));
        }
        bytes->data = static_cast<const uint8_t*>(bytes->mapping);
    }
    ::close(fd);
    ZipArchive archive;
    archive.path_ = path;
    archive.bytes_ = std::move(bytes);
    archive.parse();
    return archive;
}

ZipArchive ZipArchive::from_bytes(std::string data, const std::string& name) {
    auto bytes = std::make_shared<Bytes>();
    bytes->owned = std::move(data);
    bytes->data = reinterpret_cast<const uint8_t*>(bytes->owned.data());
    bytes->size = bytes->owned.size();
    ZipArchive archive;
    archive.path_ = name;
    archive.bytes_ = std::move(bytes);
    archive.parse();
    return archive;
}

void ZipArchive::parse() {
    const Bytes& b = *bytes_;
    const auto fail = [&](const std::string& why) { throw ModelError(path_, why); };
    if (b.size < kEndSize) fail("not a zip archive (" + std::to_string(b.size) + " bytes); torch.save writes zip files");

    // The end-of-central-directory record: its comment must reach exactly to the end of the file.
    uint64_t end = b.size - kEndSize;
    const uint64_t lowest = b.size > kEndSize + 0xffff ? b.size - kEndSize - 0xffff : 0;
    while (!(b.le(end, 4) == kEndOfCentralDirectory && end + kEndSize + b.le(end + 20, 2) == b.size)) {
        if (end == lowest) fail("not a zip archive (no end-of-central-directory record); torch.save writes zip files");
        --end;
    }
    uint64_t count = b.le(end + 10, 2), directory_size = b.le(end + 12, 4), directory_offset = b.le(end + 16, 4);
    if (b.le(end + 4, 2) != 0 || b.le(end + 6, 2) != 0 || b.le(end + 8, 2) != count)
        fail("multi-disk zip archives are not supported");
    uint64_t directory_end_limit = end;  // the central directory ends before the records that follow it
    if (count == 0xffff || directory_size == 0xffffffff || directory_offset == 0xffffffff) {
        if (end < kZip64LocatorSize || b.le(end - kZip64LocatorSize, 4) != kZip64Locator)
            fail("ZIP64 sizes without a ZIP64 end-of-central-directory locator");
        const uint64_t locator = end - kZip64LocatorSize;
        const uint64_t zip64_end = b.le(locator + 8, 8);
        if (b.le(locator + 4, 4) != 0 || b.le(locator + 16, 4) > 1) fail("multi-disk zip archives are not supported");
        if (zip64_end > locator || locator - zip64_end < kZip64EndSize || b.le(zip64_end, 4) != kZip64End)
            fail("the ZIP64 end-of-central-directory record is missing or misplaced");
        if (b.le(zip64_end + 16, 4) != 0 || b.le(zip64_end + 20, 4) != 0 ||
            b.le(zip64_end + 24, 8) != b.le(zip64_end + 32, 8))
            fail("multi-disk zip archives are not supported");
        count = b.le(zip64_end + 32, 8);
        directory_size = b.le(zip64_end + 40, 8);
        directory_offset = b.le(zip64_end + 48, 8);
        directory_end_limit = zip64_end;
    }
    if (directory_offset > directory_end_limit || directory_size > directory_end_limit - directory_offset)
        fail("the central directory (offset " + std::to_string(directory_offset) + ", " +
             std::to_string(directory_size) + " bytes) lies outside the file");
    if (count > kMaxEntries || count > directory_size / kCentralSize)
        fail("the central directory claims " + std::to_string(count) + " entries in " +
             std::to_string(directory_size) + " bytes");

    std::set<std::string> names;
    uint64_t at = directory_offset;
    const uint64_t directory_end = directory_offset + directory_size;
    for (uint64_t i = 0; i < count; ++i) {
        if (directory_end - at < kCentralSize || b.le(at, 4) != kCentralHeader)
            fail("central directory entry " + std::to_string(i) + " is malformed");
        const uint64_t flags = b.le(at + 8, 2), method = b.le(at + 10, 2);
        const auto crc = static_cast<uint32_t>(b.le(at + 16, 4));
        uint64_t compressed = b.le(at + 20, 4), size = b.le(at + 24, 4);
        const uint64_t name_length = b.le(at + 28, 2), extra_length = b.le(at + 30, 2), comment_length = b.le(at + 32, 2);
        uint64_t disk = b.le(at + 34, 2), local = b.le(at + 42, 4);
        if (directory_end - at - kCentralSize < name_length + extra_length + comment_length)
            fail("central directory entry " + std::to_string(i) + " runs past the central directory");
        const std::string name(reinterpret_cast<const char*>(b.data + at + kCentralSize), name_length);
        if (name.empty() || name.find('\0') != std::string::npos)
            fail("central directory entry " + std::to_string(i) + " has an empty name or one with a NUL");
        // ZIP64 extended information: the 8-byte values whose 4-byte fields say 0xffffffff, in order.
        for (uint64_t e = at + kCentralSize + name_length, e_end = e + extra_length; e + 4 <= e_end;) {
            const uint64_t id = b.le(e, 2), length = b.le(e + 2, 2);
            if (length > e_end - e - 4) fail("entry '" + name + "' has a malformed extra field");
            if (id == 0x0001) {
                uint64_t field = e + 4;
                const auto take = [&](uint64_t& value, int width) {
                    if (field + static_cast<uint64_t>(width) > e + 4 + length)
                        fail("entry '" + name + "' has a truncated ZIP64 extra field");
                    value = b.le(field, width);
                    field += static_cast<uint64_t>(width);
                };
                if (size == 0xffffffff) take(size, 8);
                if (compressed == 0xffffffff) take(compressed, 8);
                if (local == 0xffffffff) take(local, 8);
                if (disk == 0xffff) take(disk, 4);
            }
            e += 4 + length;
        }
        if (flags & 0x41) fail("entry '" + name + "' is encrypted");
        if (method != 0)
            fail("entry '" + name + "' is compressed (method " + std::to_string(method) +
                 "); vitc reads the stored entries torch.save writes (save it again with torch.save)");
        if (compressed != size) fail("entry '" + name + "' is stored but its two sizes differ");
        if (disk != 0) fail("multi-disk zip archives are not supported");
        if (!names.insert(name).second) fail("entry '" + name + "' appears twice");

        // The local header must agree with the central directory and lie before it.
        if (local > directory_offset || directory_offset - local < kLocalSize || b.le(local, 4) != kLocalHeader)
            fail("entry '" + name + "': no local header at offset " + std::to_string(local));
        const uint64_t local_flags = b.le(local + 6, 2), local_method = b.le(local + 8, 2);
        const uint64_t local_compressed = b.le(local + 18, 4), local_size = b.le(local + 22, 4);
        const uint64_t local_name = b.le(local + 26, 2), local_extra = b.le(local + 28, 2);
        if (local_method != method || (local_flags & 0x41))
            fail("entry '" + name + "': the local header disagrees with the central directory");
        const bool deferred = (local_flags & 0x08) && local_compressed == 0 && local_size == 0;
        const bool zip64 = local_compressed == 0xffffffff && local_size == 0xffffffff;
        if (!deferred && !zip64 && (local_compressed != compressed || local_size != size))
            fail("entry '" + name + "': the local header's sizes disagree with the central directory");
        if (directory_offset - local - kLocalSize < local_name + local_extra)
            fail("entry '" + name + "': the local header runs into the central directory");
        if (local_name != name_length || std::memcmp(b.data + local + kLocalSize, name.data(), name_length) != 0)
            fail("entry '" + name + "': the local header names another file");
        const uint64_t data = local + kLocalSize + local_name + local_extra;
        if (size > directory_offset - data)
            fail("entry '" + name + "' (" + std::to_string(size) + " bytes at offset " + std::to_string(data) +
                 ") runs into the central directory");
        entries_.push_back({name, data, size, crc});
        at += kCentralSize + name_length + extra_length + comment_length;
    }
}

const ZipEntry* ZipArchive::find(const std::string& name) const {
    for (const ZipEntry& e : entries_)
        if (e.name == name) return &e;
    return nullptr;
}

std::string_view ZipArchive::read(const ZipEntry& entry) const {
    const auto* data = reinterpret_cast<const char*>(bytes_->data + entry.data_offset);
    // zlib's crc32 takes at most 4 GiB at a time (uInt).
    uLong crc = crc32(0L, Z_NULL, 0);
    for (uint64_t done = 0; done < entry.size;) {
        const uint64_t chunk = std::min<uint64_t>(entry.size - done, 1u << 30);
        crc = crc32(crc, reinterpret_cast<const Bytef*>(data + done), static_cast<uInt>(chunk));
        done += chunk;
    }
    if (static_cast<uint32_t>(crc) != entry.crc32)
        throw ModelError(path_, "entry '" + entry.name + "' fails its CRC-32 check (the file is damaged)");
    return {data, static_cast<size_t>(entry.size)};
}

}  // namespace vitc
