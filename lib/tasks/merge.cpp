#include "tasks/merge.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "errors.hpp"
#include "tasks/resume.hpp"

namespace vitc {

namespace {

// The records of CSV text, each as its verbatim text and its unquoted fields. Quoted fields may
// hold commas, doubled quotes and newlines. The text holds whole records (read_existing_output
// drops an unfinished last one).
struct CsvRecord {
    std::string text;
    std::vector<std::string> fields;
};

std::vector<CsvRecord> split_csv(const std::string& text) {
    std::vector<CsvRecord> records;
    size_t i = 0;
    while (i < text.size()) {
        const size_t start = i;
        CsvRecord record{{}, {std::string()}};
        bool quoted = false;
        for (; i < text.size(); ++i) {
            const char c = text[i];
            if (quoted && c == '"' && i + 1 < text.size() && text[i + 1] == '"') {
                record.fields.back() += '"';
                ++i;
            } else if (c == '"') {
                quoted = !quoted;
            } else if (!quoted && c == ',') {
                record.fields.emplace_back();
            } else if (!quoted && c == '\n') {
                break;
            } else {
                record.fields.back() += c;
            }
        }
        i = std::min(i + 1, text.size());
        record.text = text.substr(start, i - start);
        records.push_back(std::move(record));
    }
    return records;
}

int label_index(const std::map<std::string, int>& index_of, const std::string& name, const std::string& path) {
    const auto it = index_of.find(name);
    if (it == index_of.end()) throw Error(path + ": label '" + name + "' is not one of the model's labels (another --model?)");
    return it->second;
}

// Where the columns a merge needs are, found by name in the header, so that columns added to
// the output later (a label index per rank, say) do not move them: file, status, the top-1
// index, and for rank K >= 2 indexK, or else labelK (a name).
struct CsvColumns {
    size_t count = 0, file = 0, status = 0;
    std::vector<std::pair<size_t, bool>> ranked;  // per rank: column, and whether it holds a name

    CsvColumns(const std::vector<std::string>& header, const std::string& path) : count(header.size()) {
        auto find = [&](const std::string& name) {
            const auto it = std::find(header.begin(), header.end(), name);
            return it == header.end() ? header.size() : static_cast<size_t>(it - header.begin());
        };
        file = find("file"), status = find("status");
        const size_t index = find("index");
        if (file != 0 || status == count || index == count)
            throw Error(path + ": the header has no file, status and index columns; not a vitc batch output");
        ranked.push_back({index, false});
        for (int k = 2;; ++k) {
            const size_t by_index = find("index" + std::to_string(k)), by_name = find("label" + std::to_string(k));
            if (by_index < count) ranked.push_back({by_index, false});
            else if (by_name < count) ranked.push_back({by_name, true});
            else break;
        }
    }
};

ShardRow csv_row(const CsvRecord& record, const CsvColumns& columns, const std::map<std::string, int>& index_of,
                 const std::string& path) {
    const auto& f = record.fields;
    if (f.size() != columns.count)
        throw Error(path + ": a row has " + std::to_string(f.size()) + " fields, the header " +
                    std::to_string(columns.count));
    ShardRow row{f[columns.file], record.text, f[columns.status] == "ok", {}};
    if (!row.ok) return row;
    for (const auto& [column, is_name] : columns.ranked) {
        const std::string& value = f[column];
        if (value.empty()) break;  // fewer labels than columns (a model with few classes)
        if (is_name) {
            row.top.push_back(label_index(index_of, value, path));
            continue;
        }
        try {
            size_t used = 0;
            row.top.push_back(std::stoi(value, &used));
            if (used != value.size()) throw std::invalid_argument(value);
        } catch (const std::exception&) {
            throw Error(path + ": row '" + row.file + "' has '" + value + "' for a label index");
        }
    }
    if (row.top.empty()) throw Error(path + ": row '" + row.file + "' is ok but holds no label");
    return row;
}

ShardRow json_row(const std::string& line, const std::string& path) try {
    const nlohmann::json j = nlohmann::json::parse(line);  // read_existing_output has checked it is an object
    // A file name that is not UTF-8 is in "file" with replacement characters, its bytes in "file_bytes".
    const std::string file = j.contains("file_bytes") ? from_hex(j.at("file_bytes").get<std::string>())
                                                      : j.at("file").get<std::string>();
    ShardRow row{file, line + "\n", j.value("status", "") == "ok", {}};
    if (row.ok)
        for (const auto& ranked : j.at("top")) row.top.push_back(ranked.at("index").get<int>());
    if (row.ok && row.top.empty()) throw Error(path + ": row '" + row.file + "' is ok but holds no label");
    return row;
} catch (const nlohmann::json::exception& e) {
    throw Error(path + ": a row is not as vitc batch writes it (" + e.what() + ")");
}

}  // namespace

bool is_json_lines_output(const std::string& path) {
    const std::string ext = std::filesystem::path(path).extension().string();
    if (ext == ".jsonl" || ext == ".json") return true;
    if (ext == ".csv") return false;
    throw Error(path + ": rows go to a .csv or .jsonl file");
}

ShardOutput read_shard_output(const std::string& path, const std::vector<std::string>& labels) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(path, ec)) throw Error(path + ": no such shard output");
    ShardOutput shard;
    shard.path = path;
    shard.json_lines = is_json_lines_output(path);
    // The same reader as `vitc batch --resume`: it checks the header and drops an unfinished row.
    const ExistingOutput existing = read_existing_output(path, shard.json_lines);

    if (shard.json_lines) {
        size_t start = 0;
        while (start < existing.rows.size()) {
            const size_t end = existing.rows.find('\n', start);
            shard.rows.push_back(json_row(existing.rows.substr(start, end - start), path));
            start = end + 1;
        }
        return shard;
    }
    std::ifstream in(path, std::ios::binary);
    std::getline(in, shard.header);
    shard.header += "\n";
    const CsvColumns columns(split_csv(shard.header).at(0).fields, path);
    std::map<std::string, int> index_of;
    for (size_t i = labels.size(); i-- > 0;) index_of[labels[i]] = static_cast<int>(i);  // first index wins
    for (const CsvRecord& record : split_csv(existing.rows)) shard.rows.push_back(csv_row(record, columns, index_of, path));
    return shard;
}

MergeResult merge_shard_outputs(const ImageFolder& folder, const std::vector<ShardOutput>& shards,
                                const std::vector<std::string>& labels) {
    MergeResult result;
    std::map<std::string, int> true_label;  // relative path -> label index (-1 unknown)
    for (const ImageEntry& image : folder.images) true_label[image.relative] = image.label;

    std::map<std::string, std::vector<const ShardRow*>> rows_of;  // sorted by relative path
    for (const ShardOutput& shard : shards)
        for (const ShardRow& row : shard.rows) rows_of[row.file].push_back(&row);
    for (const auto& [file, rows] : rows_of) {
        if (!true_label.count(file)) result.unknown.push_back(file);
        else if (rows.size() > 1) result.doubled.push_back(file);
        else result.rows.push_back(rows[0]);
    }
    for (const auto& [file, label] : true_label)
        if (!rows_of.count(file)) result.missing.push_back(file);

    // The summary `vitc batch` prints, counted from the rows as `vitc batch --resume` counts the
    // rows it keeps, with the true labels of the folder listing.
    const size_t classes = labels.size();
    for (const ShardRow* row : result.rows) {
        for (int index : row->top)
            if (index < 0 || static_cast<size_t>(index) >= classes)
                throw Error("row '" + row->file + "': label index " + std::to_string(index) + " is not below " +
                            std::to_string(classes) + " (another --model?)");
        result.report.add_earlier(row->ok, row->top, true_label[row->file], classes);
    }
    result.report.not_scored = folder.not_scored;
    return result;
}

}  // namespace vitc
