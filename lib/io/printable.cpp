#include "io/printable.hpp"

#include <cstdint>
#include <cstdio>

namespace vitc {

size_t utf8_sequence_length(const std::string& s, size_t i) {
    const unsigned char c = s[i];
    const size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
    if (n == 0 || i + n > s.size()) return 0;
    uint32_t code = n == 1 ? c : n == 2 ? (c & 0x1f) : n == 3 ? (c & 0x0f) : (c & 0x07);
    for (size_t k = 1; k < n; ++k) {
        const unsigned char d = s[i + k];
        if ((d & 0xc0) != 0x80) return 0;
        code = (code << 6) | (d & 0x3f);
    }
    static const uint32_t smallest[] = {0, 0, 0x80, 0x800, 0x10000};
    if (code < smallest[n] || (code >= 0xd800 && code <= 0xdfff) || code > 0x10ffff) return 0;
    return n;
}

bool is_valid_utf8(const std::string& text) {
    for (size_t i = 0; i < text.size();) {
        const size_t n = utf8_sequence_length(text, i);
        if (n == 0) return false;
        i += n;
    }
    return true;
}

std::string printable(const std::string& text) {
    std::string out;
    out.reserve(text.size());
    for (size_t i = 0; i < text.size();) {
        const unsigned char c = text[i];
        const size_t n = utf8_sequence_length(text, i);
        // C1 controls (U+0080..U+009F, CSI among them) are escaped as bytes, as C0 and DEL are.
        const bool c1 = n == 2 && c == 0xc2 && static_cast<unsigned char>(text[i + 1]) <= 0x9f;
        if ((n > 1 && !c1) || (n == 1 && c >= 0x20 && c != 0x7f)) {
            out.append(text, i, n);
            i += n;
            continue;
        }
        switch (c) {
            case '\n': out += "\\n"; break;
            case '\r': out += "\\r"; break;
            case '\t': out += "\\t"; break;
            case 0x1b: out += "\\e"; break;
            default: {
                char escaped[8];
                std::snprintf(escaped, sizeof escaped, "\\x%02x", c);
                out += escaped;
            }
        }
        ++i;
    }
    return out;
}

}  // namespace vitc
