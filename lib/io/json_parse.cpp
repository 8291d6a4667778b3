#include "io/json_parse.hpp"

#include <set>
#include <vector>

#include "errors.hpp"

namespace vitc {

nlohmann::json parse_json_strict(const std::string& text, const std::string& file) {
    using nlohmann::json;
    const size_t nul = text.find('\0');
    if (nul != std::string::npos)
        throw ModelError(file, "not valid JSON: a NUL byte at offset " + std::to_string(nul));
    // One set of keys per open object, to find a key given twice; the parser reports each event
    // with its depth before it builds anything deeper, so the depth check stops it early.
    std::vector<std::set<std::string>> keys;
    const json::parser_callback_t check = [&](int depth, json::parse_event_t event, json& parsed) {
        if (depth >= kMaxJsonDepth)  // depth counts from 0: this is level kMaxJsonDepth + 1
            throw ModelError(file, "JSON nested more than " + std::to_string(kMaxJsonDepth) + " levels deep");
        switch (event) {
            case json::parse_event_t::object_start: keys.emplace_back(); break;
            case json::parse_event_t::object_end: if (!keys.empty()) keys.pop_back(); break;
            case json::parse_event_t::key:
                if (!keys.empty() && !keys.back().insert(parsed.get<std::string>()).second)
                    throw ModelError(file, "the key \"" + parsed.get<std::string>() + "\" appears twice in one object");
                break;
            default: break;
        }
        return true;
    };
    try {
        return json::parse(text, check);
    } catch (const json::exception& e) {  // parse_error, or out_of_range for numbers like 1E4736
        throw ModelError(file, std::string("not valid JSON: ") + e.what());
    }
}

}  // namespace vitc
