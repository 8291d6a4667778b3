#pragma once
// Reading back an earlier (possibly interrupted, possibly killed) output, so that
// `vitc batch --resume` keeps its rows and skips the files it already holds.
#include <set>
#include <string>
#include <vector>

#include "io/printable.hpp"  // is_valid_utf8

namespace vitc {

// What a kept row says, for the summary of a resumed run.
struct EarlierRow {
    bool ok = false;
    std::vector<int> ranked;  // the label indices the row holds, best first
    std::string true_label;   // empty when unlabelled
};

struct ExistingOutput {
    std::string rows;             // the complete earlier rows verbatim (CSV: without the header)
    std::vector<EarlierRow> parsed;  // the same rows, read
    std::set<std::string> files;  // the file of every row (JSONL: from "file_bytes" when given)
    size_t complete_bytes = 0;    // the text up to the end of the last complete row
};

// What the rows must look like to be kept: the CSV header vitc would write now, and for JSON Lines
// the number of labels per ok row (a different --top would mix row widths).
struct OutputShape {
    bool json_lines = false;
    std::string csv_header;  // with its newline; empty: any vitc header
    int top_k = 1;           // 0: any
};

// Parses `text` (the contents of `path`); an unfinished last row is left out. Throws Error when
// the text is not a vitc output of this shape.
ExistingOutput parse_existing_output(const std::string& text, const std::string& path, const OutputShape& shape);

// Reads and parses `path`; an empty result when it does not exist.
ExistingOutput read_existing_output(const std::string& path, const OutputShape& shape);
ExistingOutput read_existing_output(const std::string& path, bool json_lines);  // rows of any width

// Lower-case hex of a file name's bytes, and back: JSON strings must be UTF-8, so JSON Lines rows
// carry the exact bytes of a non-UTF-8 name in "file_bytes".
std::string hex_bytes(const std::string& bytes);
std::string from_hex(const std::string& hex);  // throws Error on a malformed string

}  // namespace vitc
