#include "io/model_directory.hpp"

#include <filesystem>

namespace vitc {

namespace fs = std::filesystem;

std::string config_path(const std::string& directory) { return (fs::path(directory) / "config.json").string(); }
std::string weights_path(const std::string& directory) { return (fs::path(directory) / "model.safetensors").string(); }
std::string preprocessor_path(const std::string& directory) {
    return (fs::path(directory) / "preprocessor_config.json").string();
}

}  // namespace vitc
