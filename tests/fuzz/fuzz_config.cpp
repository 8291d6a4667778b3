// libFuzzer harness: arbitrary bytes as config.json and preprocessor_config.json. Must never
// crash; bad input is a ModelError.
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "errors.hpp"
#include "io/model_config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(data, data + size);
    } catch (const nlohmann::json::exception&) {
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
