// The pieces that stand between vitc and hostile files: reading special files, strict JSON,
// terminal-safe text, header checks that bound a decoder's work, the preprocessing's intermediate
// sizes, exact file names in JSON Lines, and exclusive temporary files.
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>

#include "errors.hpp"
#include "image/image_size.hpp"
#include "image/preprocess.hpp"
#include "io/json_parse.hpp"
#include "io/printable.hpp"
#include "io/read_file.hpp"
#include "tasks/atomic_file.hpp"
#include "tasks/resume.hpp"
#include "test_helpers.hpp"

using namespace vitc;
namespace fs = std::filesystem;

TEST_CASE("read_regular_file refuses special files before reading them", "[untrusted]") {
    test::TempDir dir;
    const std::string fifo = dir.file("config.json");
    REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
    // Would block forever if it were opened for a blocking read.
    CHECK_THROWS_WITH(read_regular_file(fifo, 1 << 20, "config file"), Catch::Contains("config file is a FIFO"));
    CHECK_THROWS_WITH(read_regular_file("/dev/zero", 1 << 20, "config file"), Catch::Contains("character device"));
    CHECK_THROWS_WITH(read_regular_file(dir.path.string(), 1 << 20, "image"), Catch::Contains("image is a folder"));
    test::write_file(dir.file("big"), std::string(100, 'x'));
    CHECK_THROWS_WITH(read_regular_file(dir.file("big"), 99, "image"), Catch::Contains("100 bytes, over the limit of 99"));
    CHECK(read_regular_file(dir.file("big"), 100, "image").size() == 100);
    try {
        read_regular_file(dir.file("missing"), 1, "image");
        FAIL("no error");
    } catch (const FileError& e) {
        CHECK(e.reason().find("cannot open image") == 0);  // the reason alone, for the caller's own error
    }
}

TEST_CASE("strict JSON: nesting depth, duplicate keys, NUL bytes", "[untrusted]") {
    CHECK(parse_json_strict(R"({"a": [1, {"b": 2}]})", "f.json")["a"][1]["b"] == 2);
    CHECK_NOTHROW(parse_json_strict(std::string(kMaxJsonDepth - 1, '[') + std::string(kMaxJsonDepth - 1, ']'), "f"));
    CHECK_THROWS_WITH(parse_json_strict(std::string(kMaxJsonDepth + 1, '[') + std::string(kMaxJsonDepth + 1, ']'), "f.json"),
                      Catch::Contains("f.json") && Catch::Contains("nested more than 128"));
    // Thirty million levels are refused at level 129, without building the rest.
    CHECK_THROWS_WITH(parse_json_strict(std::string(30'000'000, '['), "f.json"), Catch::Contains("nested more than"));
    CHECK_THROWS_WITH(parse_json_strict(R"({"a": 1, "b": {"a": 2, "a": 3}})", "f.json"), Catch::Contains("\"a\" appears twice"));
    CHECK_NOTHROW(parse_json_strict(R"([{"a": 1}, {"a": 2}])", "f.json"));  // the same key in sibling objects
    CHECK_THROWS_WITH(parse_json_strict(std::string("{}\0{\"a\":1}", 10), "f.json"), Catch::Contains("NUL byte at offset 2"));
    CHECK_THROWS_AS(parse_json_strict("{", "f.json"), ModelError);
}

TEST_CASE("printable escapes control characters and bytes that are not UTF-8", "[untrusted]") {
    CHECK(printable("Ankle boot") == "Ankle boot");
    CHECK(printable("T-shirt/top ñ 画像") == "T-shirt/top ñ 画像");
    CHECK(printable("\x1b[31mred\x07") == "\\e[31mred\\x07");
    CHECK(printable("a\nb\rc\td") == "a\\nb\\rc\\td");
    CHECK(printable(std::string("a\0b", 3)) == "a\\x00b");
    CHECK(printable("\x7f") == "\\x7f");
    CHECK(printable("\xc2\x9b" "2J") == "\\xc2\\x9b2J");  // C1 CSI, as UTF-8
    CHECK(printable("\xff\xfe") == "\\xff\\xfe");
    CHECK(printable("\xe2\x82") == "\\xe2\\x82");  // a sequence cut short
    CHECK(printable("\xed\xa0\x80") == "\\xed\\xa0\\x80");  // a UTF-16 surrogate
}

TEST_CASE("JPEG scans are counted from their markers", "[untrusted]") {
    std::vector<unsigned char> jpeg = {0xff, 0xd8, 0xff, 0xda, 0x00, 0x08, 0xff, 0x00, 0x12, 0xff, 0xd0, 0xff, 0xda, 0xff, 0xd9};
    CHECK(count_jpeg_scans(jpeg) == 2);  // the stuffed 0xff 0x00 and the restart marker are not scans
    CHECK(count_jpeg_scans({}) == 0);
}

TEST_CASE("Radiance HDR sizes are read from the header, at 12 bytes a pixel", "[untrusted]") {
    const std::string text = "#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n-Y 300 +X 200\n";
    const auto size = peek_image_size(std::vector<unsigned char>(text.begin(), text.end()));
    REQUIRE(size);
    CHECK(size->width == 200);
    CHECK(size->height == 300);
    CHECK(size->bytes_per_pixel == 12);
    const std::string transposed = "#?RGBE\n\n+X 10 -Y 20\n";
    const auto other = peek_image_size(std::vector<unsigned char>(transposed.begin(), transposed.end()));
    REQUIRE(other);
    CHECK((other->width == 10 && other->height == 20));
}

TEST_CASE("every intermediate image of the preprocessing is bounded", "[untrusted]") {
    Preprocessing p;
    p.resize = Preprocessing::Resize::ShortestEdge;
    p.shortest_edge = 28;
    p.crop_height = p.crop_width = 28;
    p.mean = {0.5f};
    p.std = {0.5f};
    CHECK(resized_size({1, 1'000'000}, p) == cv::Size(28, 28'000'000));
    CHECK(resized_size({100, 50}, p) == cv::Size(56, 28));
    const cv::Mat tall(1'000'000, 1, CV_8UC1, cv::Scalar(7));
    std::vector<float> out(28 * 28);
    CHECK_THROWS_WITH(preprocess_image(tall, p, 1, out.data()), Catch::Contains("to 28x28000000, over the limit"));
    const cv::Mat small(40, 30, CV_8UC1, cv::Scalar(7));
    CHECK_NOTHROW(preprocess_image(small, p, 1, out.data()));
    p.std = {std::numeric_limits<float>::denorm_min()};  // past the config checks: still no "ok" NaN
    CHECK_THROWS_WITH(preprocess_image(small, p, 1, out.data()), Catch::Contains("non-finite"));
}

TEST_CASE("file names that are not UTF-8 keep their bytes in JSON Lines", "[untrusted]") {
    CHECK(is_valid_utf8("plain.png"));
    CHECK(is_valid_utf8("ñämé-画像.png"));
    CHECK_FALSE(is_valid_utf8("\xff.png"));
    CHECK_FALSE(is_valid_utf8("\xc0\xaf"));  // overlong '/'
    CHECK_FALSE(is_valid_utf8("\xe2\x82"));
    CHECK(hex_bytes("\xff\x01" "a") == "ff0161");
    CHECK(from_hex(hex_bytes("\xfe\xff.png")) == "\xfe\xff.png");
    CHECK_THROWS_AS(from_hex("f"), Error);
    CHECK_THROWS_AS(from_hex("zz"), Error);
    OutputShape shape;
    shape.json_lines = true;
    const auto rows = parse_existing_output(
        "{\"file\":\"\xef\xbf\xbd.png\",\"file_bytes\":\"ff2e706e67\",\"status\":\"error\"}\n"
        "{\"file\":\"\xef\xbf\xbd.png\",\"file_bytes\":\"fe2e706e67\",\"status\":\"error\"}\n{\"file\":",
        "out.jsonl", shape);
    CHECK(rows.files.size() == 2);  // the two names differ only in their raw bytes
    CHECK(rows.files.count("\xff.png"));
    CHECK(rows.complete_bytes == rows.rows.size());  // the unfinished last line is left out
}

TEST_CASE("temporary files are created exclusively and never through a link", "[untrusted]") {
    test::TempDir dir;
    const std::string out = dir.file("rows.csv"), victim = dir.file("victim");
    test::write_file(victim, "precious");
    fs::create_symlink(victim, out + ".partial");
    CHECK_THROWS_WITH(AtomicFile::resumable(out, false, nullptr), Catch::Contains("symbolic link"));
    CHECK_THROWS_WITH(AtomicFile::resumable(out, true, nullptr), Catch::Contains("symbolic link"));
    fs::remove(out + ".partial");
    {
        std::string earlier;
        auto first = AtomicFile::resumable(out, false, &earlier);
        first->stream() << "header\nrow 1\nrow";
        first->check_written();
        // While one run writes, a second is refused; after it dies, a run without --resume too.
        CHECK_THROWS_WITH(AtomicFile::resumable(out, true, nullptr), Catch::Contains("another vitc batch is writing"));
    }
    CHECK_THROWS_WITH(AtomicFile::resumable(out, false, nullptr), Catch::Contains("--resume"));
    std::string earlier;
    auto resumed = AtomicFile::resumable(out, true, &earlier);
    CHECK(earlier == "header\nrow 1\nrow");
    resumed->truncate(13);  // drop the unfinished "row"
    resumed->stream() << "row 2\n";
    resumed->commit();
    std::ifstream in(out);
    CHECK(std::string(std::istreambuf_iterator<char>(in), {}) == "header\nrow 1\nrow 2\n");
    CHECK_FALSE(fs::exists(out + ".partial"));
    CHECK(std::string(std::istreambuf_iterator<char>(std::ifstream(victim).rdbuf()), {}) == "precious");
    CHECK_THROWS_WITH(AtomicFile(dir.path.string()), Catch::Contains("is a folder"));
}
