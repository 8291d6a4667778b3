// libFuzzer harness: arbitrary bytes as config.json and preprocessor_config.json. Must never
// crash; bad input is a ModelError.
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "errors.hpp"
#include "io/json_parse.hpp"
#include "io/model_config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    nlohmann::json j;
    try {  // as read_json_file parses a file: depth, duplicate keys and NUL checked
        j = vitc::parse_json_strict(std::string(reinterpret_cast<const char*>(data), size), "config.json");
    } catch (const vitc::Error&) {
        return 0;
    }
    try {
        vitc::ViTConfig config = vitc::parse_vit_config(j, "config.json");
        if (!config.num_channels) config.num_channels = 3;
        vitc::parse_preprocessor_config(j, "preprocessor_config.json", config);
        vitc::parse_timm_pretrained_cfg(j, "config.json", config);
    } catch (const vitc::Error&) {
    }
    return 0;
}
