#pragma once
// A training fixture (tests/data/train/<case>, scripts/make_train_fixtures.py) as a model
// directory, for the inference tests of vitc's ViT extensions.
#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include "io/model_config.hpp"
#include "io/model_directory.hpp"
#include "models/model.hpp"
#include "test_helpers.hpp"

namespace vitc::test {

// A directory `name` in tmp holding the fixture's config.json (with `config_changes` merged in)
// and its tensors (the extra ones, inputs and gradients, are not read by the loader).
inline std::string fixture_model_directory(const TempDir& tmp, const std::string& name, const std::string& fixture,
                                           const nlohmann::json& config_changes = nlohmann::json::object()) {
    const std::string dir = tmp.file(name);
    std::filesystem::create_directories(dir);
    nlohmann::json config = read_json_file(fixture + "/config.json");
    config.merge_patch(config_changes);
    write_file(config_path(dir), config.dump(2));
    std::filesystem::copy_file(fixture + "/fixture.safetensors", weights_path(dir));
    return dir;
}

// What loading `dir` throws, or "(loaded)".
inline std::string load_error(const std::string& dir) {
    try {
        load_model(dir);
    } catch (const std::exception& e) {
        return e.what();
    }
    return "(loaded)";
}

}  // namespace vitc::test
