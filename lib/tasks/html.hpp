#pragma once
// Small pieces the HTML reports (compare, study) share.
#include <string>

namespace vitc {

// Text made safe inside HTML elements and attribute values.
std::string html_escape(const std::string& text);

// The time now, e.g. "2026-11-27 14:05 UTC", for a report's date line.
std::string utc_now();

}  // namespace vitc
