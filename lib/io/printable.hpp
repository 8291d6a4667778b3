#pragma once
// Text from files (labels from id2label, file names, decoder messages) on its way to a terminal or
// a log: control characters (escape sequences, carriage return, BEL, NUL, newline, the C1 range)
// and bytes that are not UTF-8 are written as visible escapes (\e, \r, \n, \x07, \xff), so a label
// cannot recolour, rewrite or forge a line of the output. CSV and JSON keep the exact text.
#include <cstddef>
#include <string>

namespace vitc {

std::string printable(const std::string& text);

// The length of the well-formed UTF-8 sequence at text[i] (1 to 4), or 0 for a byte that does not
// start one (overlong forms, UTF-16 surrogates and values past U+10FFFF are not UTF-8).
size_t utf8_sequence_length(const std::string& text, size_t i);
bool is_valid_utf8(const std::string& text);

}  // namespace vitc
