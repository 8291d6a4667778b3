#include "tasks/resume.hpp"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "errors.hpp"
#include "io/json_parse.hpp"
#include "io/read_file.hpp"

namespace vitc {

namespace {

// Splits CSV text into records (quoted fields may hold commas, quotes and newlines), keeping each
// record's text and fields; the header names the columns read back.
void read_csv(const std::string& text, const std::string& path, const OutputShape& shape, ExistingOutput& out) {
    size_t i = 0;
    std::vector<std::string> header;
    const auto column = [&](const std::string& name) {
        const auto it = std::find(header.begin(), header.end(), name);
        return it == header.end() ? -1 : static_cast<int>(it - header.begin());
    };
    while (i < text.size()) {
        const size_t start = i;
        std::vector<std::string> fields(1);
        bool quoted = false;
        for (; i < text.size(); ++i) {
            const char c = text[i];
            if (quoted) {
                if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') {
                    fields.back() += '"';
                    ++i;
                } else if (c == '"') {
                    quoted = false;
                } else {
                    fields.back() += c;
                }
            } else if (c == '"') {
                quoted = true;
            } else if (c == ',') {
                fields.emplace_back();
            } else if (c == '\n') {
                break;
            } else {
                fields.back() += c;
            }
        }
        if (quoted || i >= text.size()) break;  // an unfinished last record: dropped, redone
        ++i;
        if (header.empty()) {
            if (fields[0] != "file") throw Error(path + ": not a vitc CSV output (no 'file' header); cannot resume");
            if (!shape.csv_header.empty() && text.compare(start, i - start, shape.csv_header) != 0)
                throw Error(path + ": written with other columns (a different --top, or an older vitc); resume with "
                                   "the options of the first run, or start a new output");
            header = fields;
            out.complete_bytes = i;
            continue;
        }
        EarlierRow row;
        const int status = column("status"), truth = column("true_label");
        row.ok = status >= 0 && status < static_cast<int>(fields.size()) && fields[status] == "ok";
        for (int k = 1; row.ok; ++k) {
            const int at = column(k == 1 ? "index" : "index" + std::to_string(k));
            if (at < 0 || at >= static_cast<int>(fields.size()) || fields[at].empty()) break;
            row.ranked.push_back(std::atoi(fields[at].c_str()));
        }
        if (truth >= 0 && truth < static_cast<int>(fields.size())) row.true_label = fields[truth];
        out.parsed.push_back(std::move(row));
        out.files.insert(fields[0]);
        out.rows.append(text, start, i - start);
        out.complete_bytes = i;
    }
}

void read_json_lines(const std::string& text, const std::string& path, const OutputShape& shape, ExistingOutput& out) {
    size_t start = 0;
    while (start < text.size()) {
        const size_t end = text.find('\n', start);
        if (end == std::string::npos) break;  // unfinished last line: redone
        const std::string line = text.substr(start, end - start);
        nlohmann::json row;
        try {
            row = parse_json_strict(line, path);
        } catch (const Error&) {
            throw Error(path + ": a line is not JSON; cannot resume");
        }
        if (!row.is_object() || !row.contains("file") || !row["file"].is_string())
            throw Error(path + ": a row has no \"file\"; cannot resume");
        if (shape.top_k > 0 && row.contains("top") && (!row["top"].is_array() || static_cast<int>(row["top"].size()) != shape.top_k))
            throw Error(path + ": rows hold " + std::to_string(row["top"].size()) + " labels, not --top " +
                        std::to_string(shape.top_k) + "; resume with the options of the first run");
        EarlierRow earlier;
        earlier.ok = row.contains("status") && row["status"] == "ok";
        if (earlier.ok && row.contains("top") && row["top"].is_array())
            for (const auto& entry : row["top"])
                if (entry.is_object() && entry.contains("index") && entry["index"].is_number_integer())
                    earlier.ranked.push_back(entry["index"].get<int>());
        if (row.contains("true_label") && row["true_label"].is_string()) earlier.true_label = row["true_label"].get<std::string>();
        out.parsed.push_back(std::move(earlier));
        const bool raw = row.contains("file_bytes") && row["file_bytes"].is_string();
        out.files.insert(raw ? from_hex(row["file_bytes"].get<std::string>()) : row["file"].get<std::string>());
        out.rows += line + "\n";
        start = end + 1;
        out.complete_bytes = start;
    }
}

}  // namespace

ExistingOutput parse_existing_output(const std::string& text, const std::string& path, const OutputShape& shape) {
    ExistingOutput out;
    if (shape.json_lines) read_json_lines(text, path, shape, out);
    else read_csv(text, path, shape, out);
    return out;
}

ExistingOutput read_existing_output(const std::string& path, const OutputShape& shape) {
    std::error_code ec;
    if (!std::filesystem::exists(path, ec)) return {};
    std::string text;
    try {
        text = read_regular_file(path, int64_t(1) << 34, "earlier output");
    } catch (const FileError& e) {
        throw Error(path + ": " + e.reason() + "; cannot resume");
    }
    return parse_existing_output(text, path, shape);
}

ExistingOutput read_existing_output(const std::string& path, bool json_lines) {
    OutputShape any;
    any.json_lines = json_lines;
    any.top_k = 0;
    return read_existing_output(path, any);
}

std::string hex_bytes(const std::string& bytes) {
    static const char digits[] = "0123456789abcdef";
    std::string out;
    for (unsigned char c : bytes) {
        out += digits[c >> 4];
        out += digits[c & 15];
    }
    return out;
}

std::string from_hex(const std::string& hex) {
    const auto value = [&](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        throw Error("\"file_bytes\" is not lower-case hex");
    };
    if (hex.size() % 2) throw Error("\"file_bytes\" has an odd length");
    std::string out;
    for (size_t i = 0; i < hex.size(); i += 2) out += static_cast<char>(value(hex[i]) * 16 + value(hex[i + 1]));
    return out;
}

}  // namespace vitc
