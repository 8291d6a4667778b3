#include "io/safetensors.hpp"

#include <cmath>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>

#include "errors.hpp"
#include "io/json_parse.hpp"
#include "io/read_file.hpp"

namespace vitc {

namespace {

// A header larger than this is refused before it is read: real checkpoints have headers of a
// few hundred KiB, and the reference implementation caps it at 100 MB as well.
constexpr uint64_t kMaxHeaderBytes = 100u * 1000u * 1000u;
constexpr size_t kMaxRank = 8;

struct DTypeEntry {
    const char* name;
    DType dtype;
    size_t size;
};
constexpr DTypeEntry kDTypes[] = {
    {"F64", DType::F64, 8}, {"F32", DType::F32, 4}, {"F16", DType::F16, 2},
    {"BF16", DType::BF16, 2}, {"I64", DType::I64, 8}, {"I32", DType::I32, 4},
    {"I16", DType::I16, 2}, {"I8", DType::I8, 1}, {"U8", DType::U8, 1},
    {"BOOL", DType::BOOL, 1},
};

}  // namespace

float half_to_float(uint16_t h) {
    const uint32_t sign = (h & 0x8000u) << 16;
    uint32_t exponent = (h >> 10) & 0x1f;
    uint32_t mantissa = h & 0x3ff;
    uint32_t bits;
    if (exponent == 0x1f) {
        bits = sign | 0x7f800000u | (mantissa << 13);  // inf or nan
    } else if (exponent != 0) {
        bits = sign | ((exponent + 112) << 23) | (mantissa << 13);
    } else if (mantissa == 0) {
        bits = sign;
    } else {  // subnormal: renormalise
        exponent = 113;
        while ((mantissa & 0x400) == 0) {
            mantissa <<= 1;
            --exponent;
        }
        bits = sign | (exponent << 23) | ((mantissa & 0x3ff) << 13);
    }
    float f;
    std::memcpy(&f, &bits, sizeof f);
    return f;
}

float bf16_to_float(uint16_t b) {
    const uint32_t bits = static_cast<uint32_t>(b) << 16;
    float f;
    std::memcpy(&f, &bits, sizeof f);
    return f;
}

namespace {

// a * b, or false when it does not fit in size_t.
bool checked_mul(size_t a, size_t b, size_t* out) {
    if (a != 0 && b > std::numeric_limits<size_t>::max() / a) return false;
    *out = a * b;
    return true;
}

}  // namespace

const char* dtype_name(DType dtype) {
    for (const auto& e : kDTypes)
        if (e.dtype == dtype) return e.name;
    return "?";
}

size_t dtype_size(DType dtype) {
    for (const auto& e : kDTypes)
        if (e.dtype == dtype) return e.size;
    return 0;
}

int64_t TensorInfo::numel() const {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    return n;
}

std::string TensorInfo::shape_string() const {
    std::string s = "[";
    for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
    return s + "]";
}

std::map<std::string, TensorInfo> parse_safetensors_header(
    const std::string& path, const std::string& header_json, size_t data_size,
    std::map<std::string, std::string>* metadata) {
    // As the reference reader: the header is one JSON object, padded at the end with spaces only.
    if (header_json.empty() || header_json[0] != '{') throw ModelError(path, "header does not begin with '{'");
    const nlohmann::json header = parse_json_strict(header_json, path + " (header)");
    if (!header.is_object()) throw ModelError(path, "header is not a JSON object");

    std::map<std::string, TensorInfo> tensors;
    for (const auto& [name, entry] : header.items()) {
        if (name == "__metadata__") {
            if (!entry.is_object()) throw ModelError(path, "__metadata__ is not an object");
            for (const auto& [key, value] : entry.items()) {
                if (!value.is_string())
                    throw ModelError(path, "__metadata__." + key + " is not a string");
                if (metadata) (*metadata)[key] = value.get<std::string>();
            }
            continue;
        }
        const std::string where = "tensor '" + name + "': ";
        if (!entry.is_object()) throw ModelError(path, where + "entry is not an object");
        if (!entry.contains("dtype") || !entry["dtype"].is_string())
            throw ModelError(path, where + "missing string field 'dtype'");
        if (!entry.contains("shape") || !entry["shape"].is_array())
            throw ModelError(path, where + "missing array field 'shape'");
        if (!entry.contains("data_offsets") || !entry["data_offsets"].is_array() ||
            entry["data_offsets"].size() != 2)
            throw ModelError(path, where + "'data_offsets' must be an array of two integers");

        TensorInfo info;
        info.name = name;
        const std::string dtype = entry["dtype"].get<std::string>();
        const DTypeEntry* found = nullptr;
        for (const auto& e : kDTypes)
            if (dtype == e.name) found = &e;
        if (!found) throw ModelError(path, where + "unknown dtype '" + dtype + "'");
        info.dtype = found->dtype;

        if (entry["shape"].size() > kMaxRank)
            throw ModelError(path, where + "rank " + std::to_string(entry["shape"].size()) +
                                       " is larger than " + std::to_string(kMaxRank));
        size_t numel = 1;
        for (const auto& dim : entry["shape"]) {
            if (!dim.is_number_unsigned())
                throw ModelError(path, where + "shape holds a value that is not a non-negative integer");
            const uint64_t d = dim.get<uint64_t>();
            if (d > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) ||
                !checked_mul(numel, static_cast<size_t>(d), &numel))
                throw ModelError(path, where + "shape overflows");
            info.shape.push_back(static_cast<int64_t>(d));
        }
        size_t expected_bytes;
        if (!checked_mul(numel, found->size, &expected_bytes))
            throw ModelError(path, where + "byte length overflows");

        const auto& offsets = entry["data_offsets"];
        if (!offsets[0].is_number_unsigned() || !offsets[1].is_number_unsigned())
            throw ModelError(path, where + "data_offsets must be non-negative integers");
        const uint64_t begin = offsets[0].get<uint64_t>(), end = offsets[1].get<uint64_t>();
        if (begin > end)
            throw ModelError(path, where + "data_offsets begin " + std::to_string(begin) +
                                       " is after end " + std::to_string(end));
        if (end > data_size)
            throw ModelError(path, where + "data_offsets end " + std::to_string(end) +
                                       " is past the data section (" + std::to_string(data_size) +
                                       " bytes)");
        if (end - begin != expected_bytes)
            throw ModelError(path, where + "holds " + std::to_string(end - begin) +
                                       " bytes, but " + dtype + " " + info.shape_string() +
                                       " needs " + std::to_string(expected_bytes));
        info.offset = static_cast<size_t>(begin);
        info.nbytes = static_cast<size_t>(end - begin);
        tensors.emplace(name, std::move(info));
    }

    // As the reference reader: the tensors tile the data section exactly, with no overlap (a crafted
    // file could alias weights), no hole and nothing after the last one.
    std::vector<const TensorInfo*> by_offset;
    for (const auto& [_, t] : tensors) by_offset.push_back(&t);
    std::sort(by_offset.begin(), by_offset.end(), [](const TensorInfo* a, const TensorInfo* b) {
        return a->offset < b->offset || (a->offset == b->offset && a->nbytes < b->nbytes);
    });
    size_t covered = 0;
    for (size_t i = 0; i < by_offset.size(); ++i) {
        const TensorInfo& t = *by_offset[i];
        if (t.offset < covered)
            throw ModelError(path, "tensors '" + by_offset[i - 1]->name + "' and '" + t.name + "' overlap");
        if (t.offset > covered)
            throw ModelError(path, "a hole of " + std::to_string(t.offset - covered) + " bytes before tensor '" +
                                       t.name + "' (data offsets must be contiguous)");
        covered = t.offset + t.nbytes;
    }
    if (covered != data_size)
        throw ModelError(path, std::to_string(data_size - covered) +
                                   " bytes after the last tensor's data (the file must end where the last tensor ends)");
    return tensors;
}

struct SafetensorsFile::Mapping {
    void* address = nullptr;
    size_t length = 0;
    ~Mapping() {
        if (address) munmap(address, length);
    }
};

SafetensorsFile SafetensorsFile::open(const std::string& path) {
    int64_t size = 0;
    int fd = -1;
    try {
        fd = open_regular_file(path, &size, "weights file");  // a FIFO or a device is refused unread
    } catch (const FileError& e) {
        throw ModelError(path, e.reason());
    }
    const size_t file_size = static_cast<size_t>(size);
    if (file_size < 8) {
        ::close(fd);
        throw ModelError(path, "file is " + std::to_string(file_size) +
                                   " bytes, too short for a safetensors header");
    }
    auto mapping = std::make_shared<Mapping>();
    mapping->address = mmap(nullptr, file_size, PROT_READ, MAP_PRIVATE, fd, 0);
    ::close(fd);
    if (mapping->address == MAP_FAILED) {
        mapping->address = nullptr;
        throw ModelError(path, std::string("cannot map file: ") + std::strerror(errno));
    }
    mapping->length = file_size;
    const auto* bytes = static_cast<const uint8_t*>(mapping->address);

    uint64_t header_size = 0;
    for (int i = 7; i >= 0; --i) header_size = (header_size << 8) | bytes[i];
    if (header_size > kMaxHeaderBytes)
        throw ModelError(path, "header length " + std::to_string(header_size) +
                                   " exceeds the limit of " + std::to_string(kMaxHeaderBytes) +
                                   " bytes");
    if (header_size > file_size - 8)
        throw ModelError(path, "header length " + std::to_string(header_size) +
                                   " is larger than the file (" + std::to_string(file_size) +
                                   " bytes)");

    SafetensorsFile file;
    file.path_ = path;
    const std::string header(reinterpret_cast<const char*>(bytes + 8), header_size);
    file.tensors_ =
        parse_safetensors_header(path, header, file_size - 8 - header_size, &file.metadata_);
    file.data_ = bytes + 8 + header_size;
    file.mapping_ = std::move(mapping);
    return file;
}

const TensorInfo& SafetensorsFile::info(const std::string& name) const {
    auto it = tensors_.find(name);
    if (it == tensors_.end()) throw ModelError(path_, "missing tensor '" + name + "'");
    return it->second;
}

std::vector<float> SafetensorsFile::read_f32(const std::string& name) const {
    const TensorInfo& t = info(name);
    const uint8_t* src = data_ + t.offset;
    const size_t n = static_cast<size_t>(t.numel());
    std::vector<float> out(n);
    switch (t.dtype) {
        case DType::F32:
            std::memcpy(out.data(), src, n * 4);
            break;
        case DType::F16:
        case DType::BF16:
            for (size_t i = 0; i < n; ++i) {
                uint16_t v;
                std::memcpy(&v, src + 2 * i, 2);
                out[i] = t.dtype == DType::F16 ? half_to_float(v) : bf16_to_float(v);
            }
            break;
        default:
            throw ModelError(path_, "tensor '" + name + "' has dtype " + dtype_name(t.dtype) +
                                        "; weights must be F32, F16 or BF16");
    }
    // A NaN or an infinity in a weight makes every prediction NaN (or, in int8, garbage).
    for (size_t i = 0; i < n; ++i)
        if (!std::isfinite(out[i]))
            throw ModelError(path_, "tensor '" + name + "' holds a non-finite value (NaN or infinity) at element " +
                                        std::to_string(i));
    return out;
}

}  // namespace vitc
