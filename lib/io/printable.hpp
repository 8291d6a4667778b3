#pragma once
// Text from files (labels from id2label, file names, decoder messages) on its way to a terminal or
// a log: control characters (escape sequences, carriage return, BEL, NUL, newline, the C1 range)
// and bytes that are not UTF-8 are written as visible escapes (\e, \r, \n, \x07, \xff), so a label
// cannot recolour, rewrite or forge a line of the output. CSV and JSON keep the exact text.
#include <string>

namespace vitc {

std::string printable(const std::string& text);

}  // namespace vitc
