#include "tasks/resume.hpp"

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "errors.hpp"

namespace vitc {

namespace {

// Splits CSV text into records (quoted fields may hold commas, quotes and newlines) and returns
// the first field of each, unquoted, with the record's text.
void read_csv(const std::string& text, const std::string& path, ExistingOutput& out) {
    size_t i = 0;
    bool header = true;
    while (i < text.size()) {
        const size_t start = i;
        std::string first;
        bool in_first = true, quoted = false;
        for (; i < text.size(); ++i) {
            const char c = text[i];
            if (quoted) {
                if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') {
                    if (in_first) first += '"';
                    ++i;
                } else if (c == '"') {
                    quoted = false;
                } else if (in_first) {
                    first += c;
                }
            } else if (c == '"') {
                quoted = true;
            } else if (c == ',') {
                in_first = false;
            } else if (c == '\n') {
                break;
            } else if (in_first) {
                first += c;
            }
        }
        if (quoted || i >= text.size()) break;  // an unfinished last record: dropped, redone
        ++i;
        if (header) {
            if (first != "file") throw Error(path + ": not a vitc CSV output (no 'file' header); cannot resume");
            header = false;
            continue;
        }
        out.files.insert(first);
        out.rows.append(text, start, i - start);
    }
}

void read_json_lines(const std::string& text, const std::string& path, ExistingOutput& out) {
    std::istringstream lines(text);
    std::string line;
    while (std::getline(lines, line)) {
        if (lines.eof() && text.back() != '\n') break;  // unfinished last line: redone
        nlohmann::json row;
        try {
            row = nlohmann::json::parse(line);
        } catch (const nlohmann::json::exception&) {
            throw Error(path + ": a line is not JSON; cannot resume");
        }
        if (!row.is_object() || !row.contains("file") || !row["file"].is_string())
            throw Error(path + ": a row has no \"file\"; cannot resume");
        out.files.insert(row["file"].get<std::string>());
        out.rows += line + "\n";
    }
}

}  // namespace

ExistingOutput read_existing_output(const std::string& path, bool json_lines) {
    ExistingOutput out;
    std::error_code ec;
    if (!std::filesystem::exists(path, ec)) return out;
    std::ifstream in(path, std::ios::binary);
    if (!in) throw Error(path + ": cannot read the earlier output");
    std::ostringstream text;
    text << in.rdbuf();
    if (json_lines) read_json_lines(text.str(), path, out);
    else read_csv(text.str(), path, out);
    return out;
}

}  // namespace vitc
