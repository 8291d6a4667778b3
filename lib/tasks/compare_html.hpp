#pragma once
// The comparison as one self-contained HTML page: every picture is an embedded PNG data URI,
// so the file can be mailed or archived alone.
#include <string>

#include "image/decode.hpp"
#include "tasks/compare.hpp"

namespace vitc {

// Writes the page to `path` (atomically), dated. Explanation pictures are drawn for up to
// max_pictures images, one per class in turn; within a class those exactly one model gets right
// first, then other disagreements, then the rest. Each image is loaded again through the
// isolated loader (`limits`). Returns how many were drawn.
size_t write_compare_html(const CompareReport& report, const std::string& path, const DecodeLimits& limits,
                          size_t max_pictures = 24);

}  // namespace vitc
