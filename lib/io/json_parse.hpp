#pragma once
// Parsing JSON from files we did not write, with the limits the format's references keep: nesting
// at most kMaxJsonDepth deep (the safetensors reference stops at 128; a 30-million-deep array would
// otherwise build gigabytes of nodes), no duplicate keys (which value wins differs between
// parsers), and no NUL byte (nlohmann's string input stops at one, hiding what follows).
#include <nlohmann/json.hpp>
#include <string>

namespace vitc {

constexpr int kMaxJsonDepth = 128;

// Throws ModelError "<file>: <reason>".
nlohmann::json parse_json_strict(const std::string& text, const std::string& file);

}  // namespace vitc
