#pragma once
// Reading back an earlier (possibly interrupted) output file, so that `vitc batch --resume`
// keeps its rows and skips the files it already holds.
#include <set>
#include <string>

namespace vitc {

struct ExistingOutput {
    std::string rows;             // the earlier rows verbatim (CSV: without the header)
    std::set<std::string> files;  // the "file" field of every row
};

// Returns an empty result when `path` does not exist; throws Error when it cannot be parsed.
ExistingOutput read_existing_output(const std::string& path, bool json_lines);

}  // namespace vitc
