#include "io/checkpoint.hpp"

#include <cstring>

#include "errors.hpp"

namespace vitc {

namespace {

constexpr uint64_t kMaxPickleBytes = 16 << 20;  // a ResNet-152 state_dict's data.pkl is ~100 KiB

template <typename T>
T load(const char* p) {
    T v;
    std::memcpy(&v, p, sizeof v);  // storages are little-endian, as this machine (checked: byteorder)
    return v;
}

}  // namespace

TorchCheckpoint TorchCheckpoint::open(const std::string& path) { return from_archive(ZipArchive::open(path)); }

TorchCheckpoint TorchCheckpoint::from_archive(ZipArchive archive) {
    const std::string& path = archive.path();
    // The pickle is <folder>/data.pkl; the folder is whatever name torch.save chose.
    const ZipEntry* pickle_entry = nullptr;
    for (const ZipEntry& e : archive.entries()) {
        const size_t slash = e.name.find('/');
        if (slash != std::string::npos && e.name.compare(slash, std::string::npos, "/data.pkl") == 0) {
            if (pickle_entry) throw ModelError(path, "the archive holds two data.pkl files");
            pickle_entry = &e;
        }
    }
    if (!pickle_entry)
        throw ModelError(path, "no <name>/data.pkl inside: not a checkpoint written by torch.save (PyTorch 1.6 or later)");
    const std::string folder = pickle_entry->name.substr(0, pickle_entry->name.size() - std::strlen("data.pkl"));
    if (const ZipEntry* order = archive.find(folder + "byteorder")) {
        const std::string_view text = archive.read(*order);
        if (text != "little") throw ModelError(path, "the storages are '" + std::string(text.substr(0, 16)) +
                                                         "'-endian; vitc reads little-endian checkpoints");
    }
    if (pickle_entry->size > kMaxPickleBytes)
        throw ModelError(path, "data.pkl is " + std::to_string(pickle_entry->size) + " bytes, over the limit of " +
                                   std::to_string(kMaxPickleBytes));
    const Pickle pickle = unpickle(archive.read(*pickle_entry), path);

    TorchCheckpoint c;
    c.storages_ = pickle.storages;
    for (const PickleStorage& s : c.storages_) {
        const ZipEntry* entry = archive.find(folder + "data/" + s.key);
        if (!entry) throw ModelError(path, "storage '" + s.key + "' is missing (no entry " + folder + "data/" + s.key + ")");
        const uint64_t expected = static_cast<uint64_t>(s.numel) * dtype_size(s.dtype);  // numel < 2^48
        if (entry->size != expected)
            throw ModelError(path, "storage '" + s.key + "' holds " + std::to_string(entry->size) + " bytes; its " +
                                       std::to_string(s.numel) + " " + dtype_name(s.dtype) + " elements need " +
                                       std::to_string(expected));
        c.storage_bytes_.push_back(archive.read(*entry).data());  // CRC-checked here, once
    }
    for (auto& [name, tensor] : state_dict_tensors(pickle, path)) {
        c.names_.push_back(name);
        c.tensors_.emplace(name, std::move(tensor));
    }
    c.archive_ = std::move(archive);  // the mapping the storage pointers point into (shared, not moved bytes)
    return c;
}

const PickleTensor& TorchCheckpoint::tensor(const std::string& name) const {
    const auto it = tensors_.find(name);
    if (it == tensors_.end()) throw ModelError(path(), "missing tensor '" + name + "'");
    return it->second;
}

DType TorchCheckpoint::dtype(const std::string& name) const { return storages_[tensor(name).storage].dtype; }
const std::vector<int64_t>& TorchCheckpoint::shape(const std::string& name) const { return tensor(name).shape; }

std::map<std::string, std::vector<int64_t>> TorchCheckpoint::shapes() const {
    std::map<std::string, std::vector<int64_t>> out;
    for (const auto& [name, t] : tensors_) out[name] = t.shape;
    return out;
}

std::vector<float> TorchCheckpoint::read_f32(const std::string& name) const {
    const PickleTensor& t = tensor(name);
    const PickleStorage& s = storages_[t.storage];
    const char* base = storage_bytes_[t.storage];
    const size_t element = dtype_size(s.dtype);
    const auto value = [&](int64_t i) -> float {  // i < s.numel: checked when the pickle was read
        const char* p = base + static_cast<size_t>(i) * element;
        switch (s.dtype) {
            case DType::F32: return load<float>(p);
            case DType::F64: return static_cast<float>(load<double>(p));
            case DType::F16: return half_to_float(load<uint16_t>(p));
            case DType::BF16: return bf16_to_float(load<uint16_t>(p));
            default: throw ModelError(path(), "tensor '" + name + "' is " + dtype_name(s.dtype) + ", not a float type");
        }
    };
    // Walk the view in row-major order of its shape: index[] counts, `at` follows the strides.
    const int64_t numel = t.numel();
    std::vector<float> out;
    out.reserve(static_cast<size_t>(numel));
    if (numel == 0) return out;
    std::vector<int64_t> index(t.shape.size(), 0);
    int64_t at = t.offset;
    for (int64_t n = 0; n < numel; ++n) {
        out.push_back(value(at));
        for (size_t d = t.shape.size(); d-- > 0;) {
            if (++index[d] < t.shape[d]) {
                at += t.stride[d];
                break;
            }
            at -= (t.shape[d] - 1) * t.stride[d];
            index[d] = 0;
        }
    }
    return out;
}

}  // namespace vitc
