#pragma once
// Merging the outputs of a sharded `vitc batch` (one file per `--shard K/N`) into one, after
// checking that together they cover the folder exactly once.
//
// Why the folder is listed again rather than trusted from the shard files: a shard only knows its
// own files, so only the folder itself can name the files no shard classified (a lost task, a
// forgotten output, a file added since). Listing it again costs one directory walk; it needs the
// model's labels, as `vitc batch` did, to know the labelled subfolders and the true labels.
#include <string>
#include <vector>

#include "tasks/batch.hpp"
#include "tasks/image_folder.hpp"

namespace vitc {

// One row of a shard output, kept verbatim for the merged file.
struct ShardRow {
    std::string file;      // relative to the folder
    std::string text;      // the row as written, with its newline
    bool ok = false;       // status "ok"
    std::vector<int> top;  // predicted label indices, best first (as many as the row holds)
};

struct ShardOutput {
    std::string path;
    bool json_lines = false;
    std::string header;  // CSV: the header line, with its newline; JSON Lines: empty
    std::vector<ShardRow> rows;
};

// True for .jsonl and .json, false for .csv (the names `vitc batch --out` takes); throws otherwise.
bool is_json_lines_output(const std::string& path);

// Reads a `vitc batch --out` file (.csv or .jsonl/.json). Label names in CSV rows are mapped to
// indices with `labels`. Throws Error naming the file when it is missing or not a vitc output.
ShardOutput read_shard_output(const std::string& path, const std::vector<std::string>& labels);

struct MergeResult {
    std::vector<const ShardRow*> rows;  // one per file, sorted by relative path as `vitc batch` writes them
    std::vector<std::string> missing;   // in the folder, in no shard output
    std::vector<std::string> doubled;   // in more than one row (listed once each)
    std::vector<std::string> unknown;   // rows for files the folder does not hold
    BatchReport report;  // counts and accuracy over `rows`, with the folder's true labels; no times

    bool complete() const { return missing.empty() && doubled.empty() && unknown.empty(); }
};

// Matches the rows of `shards` against the folder listing. The result points into `shards`.
MergeResult merge_shard_outputs(const ImageFolder& folder, const std::vector<ShardOutput>& shards,
                                const std::vector<std::string>& labels);

}  // namespace vitc
