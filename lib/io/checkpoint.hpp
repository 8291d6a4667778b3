#pragma once
// A PyTorch checkpoint as torch.save writes it (a zip archive, io/zip_archive.hpp) holding a
// state_dict: the pickle is read by the restricted unpickler (io/pickle.hpp) and every tensor
// is checked against its storage entry (the entry's size is the storage's, the view lies inside
// it, the entry's CRC-32 holds) when the file is opened, before any value is converted.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "io/pickle.hpp"
#include "io/zip_archive.hpp"

namespace vitc {

class TorchCheckpoint {
public:
    // Throws ModelError naming the file and the reason.
    static TorchCheckpoint open(const std::string& path);
    static TorchCheckpoint from_archive(ZipArchive archive);

    const std::string& path() const { return archive_.path(); }
    // Tensor names in the order the state_dict lists them.
    const std::vector<std::string>& names() const { return names_; }
    bool contains(const std::string& name) const { return tensors_.count(name) != 0; }
    DType dtype(const std::string& name) const;
    const std::vector<int64_t>& shape(const std::string& name) const;
    std::map<std::string, std::vector<int64_t>> shapes() const;

    // The tensor's values, contiguous and converted to f32 (from F32, F64, F16 or BF16).
    std::vector<float> read_f32(const std::string& name) const;

private:
    const PickleTensor& tensor(const std::string& name) const;

    ZipArchive archive_;
    std::vector<std::string> names_;
    std::map<std::string, PickleTensor> tensors_;
    std::vector<PickleStorage> storages_;
    std::vector<const char*> storage_bytes_;  // each storage's first byte in the archive
};

}  // namespace vitc
