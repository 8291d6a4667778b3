#include "train/safetensors_writer.hpp"

#include <nlohmann/json.hpp>

#include "tasks/atomic_file.hpp"

namespace vitc::train {

void write_safetensors(const std::string& path, const std::vector<TensorToWrite>& tensors) {
    nlohmann::json header = nlohmann::json::object();
    size_t offset = 0;
    for (const TensorToWrite& t : tensors) {
        size_t numel = 1;
        for (int64_t d : t.shape) numel *= static_cast<size_t>(d);
        header[t.name] = {{"dtype", "F32"}, {"shape", t.shape}, {"data_offsets", {offset, offset + numel * 4}}};
        offset += numel * 4;
    }
    std::string text = header.dump();
    text.append((8 - text.size() % 8) % 8, ' ');  // the data section starts 8-byte aligned
    AtomicFile file(path);
    std::ostream& out = file.stream();
    const uint64_t length = text.size();
    for (int i = 0; i < 8; ++i) out.put(static_cast<char>((length >> (8 * i)) & 0xff));  // little-endian
    out << text;
    for (const TensorToWrite& t : tensors) {
        size_t numel = 1;
        for (int64_t d : t.shape) numel *= static_cast<size_t>(d);
        out.write(reinterpret_cast<const char*>(t.values), static_cast<std::streamsize>(numel * sizeof(float)));
    }
    file.commit();
}

}  // namespace vitc::train
