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

// CSV columns: file,status,label,index,prob,[labelK,probK for K=2..top],true_label,correct,error
ShardRow csv_row(const CsvRecord& record, size_t columns, const std::map<std::string, int>& index_of,
                 const std::string& path) {
    const auto& f = record.fields;
    if (f.size() != columns)
        throw Error(path + ": a row has " + std::to_string(f.size()) + " fields, the header " + std::to_string(columns));
    ShardRow row{f[0], record.text, f[1] == "ok", {}};
    if (!row.ok) return row;
    try {
        row.top.push_back(std::stoi(f[3]));
    } catch (const std::exception&) {
        throw Error(path + ": row '" + f[0] + "' has no label index");
    }
    for (size_t c = 5; c + 3 < columns; c += 2)
        if (!f[c].empty()) row.top.push_back(label_index(index_of, f[c], path));
    return row;
}

ShardRow json_row(const std::string& line, const std::string& path) {
    const nlohmann::json j = nlohmann::json::parse(line);  // read_existing_output has parsed it already
    ShardRow row{j["file"].get<std::string>(), line + "\n", j.value("status", "") == "ok", {}};
    if (row.ok && j.contains("top") && j["top"].is_array())
        for (const auto& ranked : j["top"]) {
            if (!ranked.contains("index") || !ranked["index"].is_number_integer())
                throw Error(path + ": row '" + row.file + "' has a label without an index");
            row.top.push_back(ranked["index"].get<int>());
        }
    if (row.ok && row.top.empty()) throw Error(path + ": row '" + row.file + "' is ok but holds no label");
    return row;
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
    const size_t columns = split_csv(shard.header).at(0).fields.size();
    if (columns < 8 || columns % 2) throw Error(path + ": the header has " + std::to_string(columns) + " columns; not a vitc batch output");
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

    // The summary `vitc batch` prints, counted from the rows (see record_accuracy in batch.cpp).
    BatchReport& report = result.report;
    report.images = result.rows.size();
    const size_t classes = labels.size(), top5 = std::min<size_t>(5, classes);
    for (const ShardRow* row : result.rows) {
        const int truth = true_label[row->file];
        if (!row->ok) ++report.failed;
        if (!row->ok || truth < 0) continue;
        for (int index : row->top)
            if (index < 0 || static_cast<size_t>(index) >= classes)
                throw Error("row '" + row->file + "': label index " + std::to_string(index) + " is not below " +
                            std::to_string(classes) + " (another --model?)");
        if (row->top.size() < top5) result.top5_known = false;
        ++report.evaluated;
        if (row->top[0] == truth) ++report.top1_correct;
        if (std::find(row->top.begin(), row->top.begin() + std::min(row->top.size(), top5), truth) !=
            row->top.begin() + std::min(row->top.size(), top5))
            ++report.top5_correct;
        if (report.confusion.empty()) report.confusion.assign(classes, std::vector<size_t>(classes, 0));
        ++report.confusion[truth][row->top[0]];
    }
    return result;
}

}  // namespace vitc
