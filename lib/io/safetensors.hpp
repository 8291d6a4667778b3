#pragma once
// Reader for the safetensors format (https://github.com/huggingface/safetensors):
//   [u64 little-endian header length N][N bytes of JSON header][data section]
// The file is memory-mapped; every length, offset, dtype and shape is validated when the file is
// opened, before any tensor byte is read.
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace vitc {

enum class DType { F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL };

const char* dtype_name(DType dtype);
size_t dtype_size(DType dtype);
// IEEE half and bfloat16 bit patterns to float (also used by the PyTorch checkpoint reader).
float half_to_float(uint16_t h);
float bf16_to_float(uint16_t b);

struct TensorInfo {
    std::string name;
    DType dtype;
    std::vector<int64_t> shape;
    size_t offset = 0;  // from the start of the data section
    size_t nbytes = 0;
    int64_t numel() const;
    std::string shape_string() const;  // "[3, 4]"
};

class SafetensorsFile {
public:
    // Throws ModelError naming the file and the reason when anything is malformed.
    static SafetensorsFile open(const std::string& path);

    const std::string& path() const { return path_; }
    const std::map<std::string, TensorInfo>& tensors() const { return tensors_; }
    const std::map<std::string, std::string>& metadata() const { return metadata_; }
    bool contains(const std::string& name) const { return tensors_.count(name) != 0; }
    const TensorInfo& info(const std::string& name) const;  // throws ModelError if absent

    // The tensor converted to f32 (from F32, F16 or BF16; other dtypes are refused).
    std::vector<float> read_f32(const std::string& name) const;

private:
    struct Mapping;
    std::string path_;
    std::shared_ptr<const Mapping> mapping_;
    const uint8_t* data_ = nullptr;  // start of the data section inside the mapping
    std::map<std::string, TensorInfo> tensors_;
    std::map<std::string, std::string> metadata_;
};

// Parses a header (already read) against a data section of data_size bytes. Exposed for tests.
std::map<std::string, TensorInfo> parse_safetensors_header(const std::string& path,
                                                           const std::string& header_json,
                                                           size_t data_size,
                                                           std::map<std::string, std::string>* metadata);

}  // namespace vitc
