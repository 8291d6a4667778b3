#pragma once
// Small helpers for the tests: temporary folders and files.
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>

namespace vitc::test {

// A fresh folder under the system temp dir, removed when the object goes away.
struct TempDir {
    std::filesystem::path path;
    TempDir() {
        static std::mt19937_64 rng(std::random_device{}());
        path = std::filesystem::temp_directory_path() / ("vitc-test-" + std::to_string(rng()));
        std::filesystem::create_directories(path);
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
    std::string file(const std::string& name) const { return (path / name).string(); }
};

inline void write_file(const std::string& path, const std::string& bytes) {
    std::ofstream out(path, std::ios::binary);
    out << bytes;
}

inline std::string read_bytes(const std::string& path) {  // the whole file; empty if unreadable
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

// A safetensors file from a header and a data section.
inline std::string safetensors_bytes(const std::string& header, const std::string& data) {
    std::string bytes(8, '\0');
    uint64_t n = header.size();
    for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>((n >> (8 * i)) & 0xff);
    return bytes + header + data;
}

}  // namespace vitc::test
