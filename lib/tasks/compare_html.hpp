#pragma once
// The comparison as one self-contained HTML page: every picture is an embedded PNG data URI,
// so the file can be mailed or archived alone.
#include <string>

#include "image/decode.hpp"
#include "tasks/compare.hpp"

namespace vitc {

// Writes the page to `path` (atomically). Explanation pictures are drawn for up to max_pictures
// images: those exactly one model gets right first, then other disagreements, then the rest.
// Returns how many were drawn.
size_t write_compare_html(const CompareReport& report, const std::string& path, const DecodeLimits& limits,
                          size_t max_pictures = 24);

}  // namespace vitc
