#include "train/checkpoint.hpp"

#include <cstring>
#include <fstream>
#include <iterator>

#include "errors.hpp"
#include "tasks/atomic_file.hpp"

namespace vitc::train {

namespace {

constexpr char kMagic[] = "VITCKPT1";

void write_floats(std::ostream& out, const std::vector<float>& v) {
    out.write(reinterpret_cast<const char*>(v.data()), static_cast<std::streamsize>(v.size() * sizeof(float)));
}

}  // namespace

void write_checkpoint(const std::string& path, const Checkpoint& c) {
    nlohmann::json state = c.state;
    state["lengths"] = {c.parameters.size(), c.first_moment.size(), c.second_moment.size(), c.model_state.size()};
    const std::string text = state.dump();
    AtomicFile file(path);
    std::ostream& out = file.stream();
    out.write(kMagic, 8);
    const uint64_t length = text.size();
    for (int i = 0; i < 8; ++i) out.put(static_cast<char>((length >> (8 * i)) & 0xff));
    out << text;
    write_floats(out, c.parameters);
    write_floats(out, c.first_moment);
    write_floats(out, c.second_moment);
    write_floats(out, c.model_state);
    file.commit();
}

Checkpoint read_checkpoint(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw Error(path + ": cannot open the checkpoint");
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (bytes.size() < 16 || bytes.compare(0, 8, kMagic) != 0) throw Error(path + ": not a vitc training checkpoint");
    uint64_t length = 0;
    for (int i = 0; i < 8; ++i) length |= uint64_t(static_cast<uint8_t>(bytes[8 + i])) << (8 * i);
    if (length > bytes.size() - 16) throw Error(path + ": truncated checkpoint header");
    Checkpoint c;
    try {
        c.state = nlohmann::json::parse(bytes.substr(16, length));
    } catch (const std::exception& e) {
        throw Error(path + ": checkpoint header: " + e.what());
    }
    size_t offset = 16 + length;
    std::vector<float>* arrays[] = {&c.parameters, &c.first_moment, &c.second_moment, &c.model_state};
    const auto lengths = c.state.at("lengths").get<std::vector<size_t>>();
    if (lengths.size() != 4) throw Error(path + ": checkpoint header has no array lengths");
    for (int i = 0; i < 4; ++i) {
        const size_t n = lengths[i];
        if (n > (bytes.size() - offset) / sizeof(float)) throw Error(path + ": truncated checkpoint");
        arrays[i]->resize(n);
        if (n) std::memcpy(arrays[i]->data(), bytes.data() + offset, n * sizeof(float));  // data() may be null when empty
        offset += n * sizeof(float);
    }
    if (offset != bytes.size()) throw Error(path + ": " + std::to_string(bytes.size() - offset) + " stray bytes at the end");
    return c;
}

}  // namespace vitc::train
