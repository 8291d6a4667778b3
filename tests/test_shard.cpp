// Sharding a folder (vitc batch --shard K/N|auto) and merging the shard outputs (vitc merge).
#include <algorithm>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <map>
#include <opencv2/imgcodecs.hpp>
#include <random>
#include <set>
#include <sstream>

#include "errors.hpp"
#include "tasks/batch.hpp"
#include "tasks/merge.hpp"
#include "tasks/shard.hpp"
#include "test_helpers.hpp"

using namespace vitc;
using Catch::Matchers::Contains;
namespace fs = std::filesystem;

namespace {

std::vector<ImageEntry> entries(const std::vector<std::string>& names) {
    std::vector<ImageEntry> images;
    for (const auto& n : names) images.push_back({"/data/" + n, n, -1});
    return images;
}

std::vector<std::string> names_of(const std::vector<ImageEntry>& images) {
    std::vector<std::string> names;
    for (const auto& e : images) names.push_back(e.relative);
    return names;
}

EnvironmentLookup environment(std::map<std::string, std::string> values) {
    return [values = std::move(values)](const char* name) -> const char* {
        const auto it = values.find(name);
        return it == values.end() ? nullptr : it->second.c_str();
    };
}

}  // namespace

TEST_CASE("shard: K/N is parsed strictly", "[shard]") {
    CHECK(parse_shard("0/4").index == 0);
    CHECK(parse_shard("3/4").index == 3);
    CHECK(parse_shard("3/4").count == 4);
    CHECK(parse_shard("0/1").count == 1);
    for (const char* bad : {"4/4", "5/4", "-1/4", "1/0", "0/0", "a/b", "1", "", "1/2/3", " 1/4", "1/4 ", "1/+4", "1.0/4",
                            "0/99999999999", "/4", "1/"})
        CHECK_THROWS_AS(parse_shard(bad, environment({})), Error);
    CHECK_THROWS_WITH(parse_shard("4/4"), Contains("shard 4 does not exist; shards are numbered 0 to 3"));
    CHECK_THROWS_WITH(parse_shard("x"), Contains("expected K/N"));
}

TEST_CASE("shard: auto reads the Slurm array task's variables and checks them", "[shard]") {
    const ShardSpec spec = parse_shard("auto", environment({{"SLURM_ARRAY_TASK_ID", "2"}, {"SLURM_ARRAY_TASK_COUNT", "4"},
                                                            {"SLURM_ARRAY_TASK_MIN", "0"}, {"SLURM_ARRAY_TASK_MAX", "3"}}));
    CHECK(spec.index == 2);
    CHECK(spec.count == 4);
    CHECK(parse_shard("auto", environment({{"SLURM_ARRAY_TASK_ID", "0"}, {"SLURM_ARRAY_TASK_COUNT", "1"}})).count == 1);

    CHECK_THROWS_WITH(parse_shard("auto", environment({})), Contains("SLURM_ARRAY_TASK_ID is not set"));
    CHECK_THROWS_WITH(parse_shard("auto", environment({{"SLURM_ARRAY_TASK_ID", "1"}})),
                      Contains("SLURM_ARRAY_TASK_COUNT is not set"));
    CHECK_THROWS_WITH(parse_shard("auto", environment({{"SLURM_ARRAY_TASK_ID", "x"}, {"SLURM_ARRAY_TASK_COUNT", "4"}})),
                      Contains("is not a whole number"));
    // A single task rerun (--array=2): COUNT is 1, the shard is not 2/1.
    CHECK_THROWS_WITH(parse_shard("auto", environment({{"SLURM_ARRAY_TASK_ID", "2"}, {"SLURM_ARRAY_TASK_COUNT", "1"},
                                                       {"SLURM_ARRAY_TASK_MIN", "2"}, {"SLURM_ARRAY_TASK_MAX", "2"}})),
                      Contains("give --shard K/N to rerun one task"));
    // --array=1-4 and --array=0-6:2 have 4 tasks, not numbered 0..3.
    CHECK_THROWS_AS(parse_shard("auto", environment({{"SLURM_ARRAY_TASK_ID", "1"}, {"SLURM_ARRAY_TASK_COUNT", "4"},
                                                     {"SLURM_ARRAY_TASK_MIN", "1"}, {"SLURM_ARRAY_TASK_MAX", "4"}})),
                    Error);
    CHECK_THROWS_AS(parse_shard("auto", environment({{"SLURM_ARRAY_TASK_ID", "2"}, {"SLURM_ARRAY_TASK_COUNT", "4"},
                                                     {"SLURM_ARRAY_TASK_MIN", "0"}, {"SLURM_ARRAY_TASK_MAX", "6"}})),
                    Error);
}

TEST_CASE("shard: file i of the byte-sorted list goes to shard i mod N, whatever the listing order", "[shard]") {
    // Bytes, not locale: upper case before lower case, and UTF-8 (0xc3...) after ASCII.
    const std::vector<std::string> sorted = {"A/1.png", "B/0.png", "a/0.png", "a/1.png", "b/x.png", "z.png", "\xc3\xa9.png"};
    CHECK(names_of(select_shard(entries(sorted), {0, 3})) == std::vector<std::string>{"A/1.png", "a/1.png", "\xc3\xa9.png"});
    CHECK(names_of(select_shard(entries(sorted), {1, 3})) == std::vector<std::string>{"B/0.png", "b/x.png"});
    CHECK(names_of(select_shard(entries(sorted), {2, 3})) == std::vector<std::string>{"a/0.png", "z.png"});

    std::vector<std::string> names;
    for (int i = 0; i < 300; ++i) names.push_back("class" + std::to_string(i % 7) + "/img" + std::to_string(i) + ".png");
    std::mt19937 rng(7);
    for (int count : {1, 2, 3, 8, 299, 300, 450}) {
        std::multiset<std::string> seen;
        std::vector<std::string> shuffled = names;
        std::shuffle(shuffled.begin(), shuffled.end(), rng);
        for (int k = 0; k < count; ++k) {
            const auto shard = names_of(select_shard(entries(shuffled), {k, count}));
            CHECK(shard == names_of(select_shard(entries(names), {k, count})));  // listing order does not matter
            CHECK(std::is_sorted(shard.begin(), shard.end()));
            const size_t expected = names.size() / count + (static_cast<size_t>(k) < names.size() % count ? 1 : 0);
            CHECK(shard.size() == expected);  // sizes differ by at most one
            seen.insert(shard.begin(), shard.end());
        }
        CHECK(seen == std::multiset<std::string>(names.begin(), names.end()));  // every file exactly once
    }
}

namespace {

const std::vector<std::string> kLabels = {"Cat", "Dog", "T-shirt/top"};

// A labelled folder of 1x1 PNGs: Cat/c0..c2.png, Dog/d0..d2.png, T-shirt_top/t0.png, x.png.
struct Folder {
    test::TempDir dir;
    ImageFolder listing;
    Folder() {
        cv::Mat pixel(1, 1, CV_8UC1, cv::Scalar(1));
        for (const char* sub : {"Cat", "Dog", "T-shirt_top"}) fs::create_directories(dir.path / sub);
        for (const char* f : {"Cat/c0.png", "Cat/c1.png", "Cat/c2.png", "Dog/d0.png", "Dog/d1.png", "Dog/d2.png",
                              "T-shirt_top/t0.png", "x.png"})
            cv::imwrite(dir.file(f), pixel);
        listing = list_image_folder(dir.path.string(), false, kLabels);
    }
};

// Rows as `vitc batch` writes them (RowWriter): each image predicted as `predicted[relative]`
// with decreasing probabilities for the other labels; a name mapped to -1 failed to decode.
std::string shard_text(const std::vector<ImageEntry>& images, const std::map<std::string, int>& predicted,
                       RowWriter::Format format, int top) {
    std::ostringstream out;
    RowWriter writer(out, format, kLabels, top);
    for (const ImageEntry& image : images) {
        BatchRow row;
        row.image = &image;
        const int best = predicted.at(image.relative);
        row.ok = best >= 0;
        if (!row.ok) row.error = image.relative + ": not an image, \"quoted\", with a comma";
        else {
            row.prediction.probabilities = {0.2f, 0.1f, 0.05f};
            row.prediction.probabilities[best] = 0.65f;
            row.prediction.logits = row.prediction.probabilities;
        }
        writer.write(row);
    }
    return out.str();
}

}  // namespace

TEST_CASE("merge: shards that cover the folder merge into the single run's rows and summary", "[shard]") {
    Folder folder;
    REQUIRE(folder.listing.images.size() == 8);
    const std::map<std::string, int> predicted = {{"Cat/c0.png", 0}, {"Cat/c1.png", 1}, {"Cat/c2.png", -1},
                                                  {"Dog/d0.png", 1}, {"Dog/d1.png", 1}, {"Dog/d2.png", 2},
                                                  {"T-shirt_top/t0.png", 2}, {"x.png", 0}};
    for (auto format : {RowWriter::Format::Csv, RowWriter::Format::JsonLines}) {
        const std::string ext = format == RowWriter::Format::Csv ? ".csv" : ".jsonl";
        test::TempDir out;
        std::vector<ShardOutput> shards;
        for (int k = 0; k < 3; ++k) {
            const std::string path = out.file("shard-" + std::to_string(k) + ext);
            test::write_file(path, shard_text(select_shard(folder.listing.images, {k, 3}), predicted, format, 3));
            shards.push_back(read_shard_output(path, kLabels));
        }
        std::reverse(shards.begin(), shards.end());  // the order shards are given in does not matter
        const MergeResult merged = merge_shard_outputs(folder.listing, shards, kLabels);
        CHECK(merged.complete());
        std::string rows = shards.back().header;
        for (const ShardRow* row : merged.rows) rows += row->text;
        CHECK(rows == shard_text(folder.listing.images, predicted, format, 3));  // = one unsharded run

        const BatchReport& r = merged.report;
        CHECK(r.images == 8);
        CHECK(r.failed == 1);
        CHECK(r.evaluated == 6);  // labelled and classified: x.png has no label, c2 failed
        CHECK(r.top1_correct == 4);
        CHECK(r.top5_evaluated == 6);  // 3 labels, 3 per row
        CHECK(r.top5_correct == 6);
        CHECK(r.confusion == std::vector<std::vector<size_t>>{{1, 1, 0}, {0, 2, 1}, {0, 0, 1}});
    }
}

TEST_CASE("merge: missing, doubled and unknown files are named", "[shard]") {
    Folder folder;
    const std::map<std::string, int> predicted = {{"Cat/c0.png", 0}, {"Cat/c1.png", 0}, {"Cat/c2.png", 0},
                                                  {"Dog/d0.png", 1}, {"Dog/d1.png", 1}, {"Dog/d2.png", 1},
                                                  {"T-shirt_top/t0.png", 2}, {"x.png", 0}, {"gone.png", 0}};
    test::TempDir out;
    auto write = [&](const std::string& name, const ShardSpec& spec, int top) {
        test::write_file(out.file(name), shard_text(select_shard(folder.listing.images, spec), predicted,
                                                    RowWriter::Format::Csv, top));
        return read_shard_output(out.file(name), kLabels);
    };
    const ShardOutput s0 = write("s0.csv", {0, 3}, 1), s1 = write("s1.csv", {1, 3}, 1), s2 = write("s2.csv", {2, 3}, 1);

    const MergeResult missing = merge_shard_outputs(folder.listing, {s0, s2}, kLabels);
    CHECK(!missing.complete());
    CHECK(missing.missing == names_of(select_shard(folder.listing.images, {1, 3})));
    CHECK(missing.doubled.empty());
    CHECK(missing.report.images == 8 - missing.missing.size());
    CHECK(missing.report.top5_evaluated == 0);  // one label per row: top-5 cannot be counted

    const MergeResult doubled = merge_shard_outputs(folder.listing, {s0, s1, s2, s1}, kLabels);
    CHECK(doubled.missing.empty());
    CHECK(doubled.doubled == names_of(select_shard(folder.listing.images, {1, 3})));

    ImageEntry gone{out.file("gone.png"), "gone.png", -1};
    test::write_file(out.file("extra.csv"), shard_text({gone}, predicted, RowWriter::Format::Csv, 1));
    const MergeResult unknown =
        merge_shard_outputs(folder.listing, {s0, s1, s2, read_shard_output(out.file("extra.csv"), kLabels)}, kLabels);
    CHECK(unknown.unknown == std::vector<std::string>{"gone.png"});
    CHECK(!unknown.complete());

    CHECK_THROWS_WITH(read_shard_output(out.file("none.csv"), kLabels), Contains("no such shard output"));
    test::write_file(out.file("notes.txt"), "file\n");
    CHECK_THROWS_WITH(read_shard_output(out.file("notes.txt"), kLabels), Contains(".csv or .jsonl"));
    test::write_file(out.file("other.csv"), "name,value\na,1\n");
    CHECK_THROWS_AS(read_shard_output(out.file("other.csv"), kLabels), Error);
    // Rows of a model with other labels.
    test::write_file(out.file("labels.csv"), "file,status,label,index,prob,label2,prob2,true_label,correct,error\n"
                                             "x.png,ok,Cat,0,0.9,Horse,0.1,,,\n");
    CHECK_THROWS_WITH(read_shard_output(out.file("labels.csv"), kLabels), Contains("'Horse' is not one of the model's labels"));
}
