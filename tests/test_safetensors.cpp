// The safetensors reader: valid files read back exactly, every malformed file refused with
// the file name and the reason.
#include <catch2/catch.hpp>
#include <cstring>

#include "errors.hpp"
#include "io/safetensors.hpp"
#include "test_helpers.hpp"

using namespace vitc;
using vitc::test::safetensors_bytes;

namespace {

std::string floats(std::initializer_list<float> values) {
    std::string s;
    for (float v : values) s.append(reinterpret_cast<const char*>(&v), 4);
    return s;
}

// Opens bytes written to a temporary file; returns the error message, or "" on success.
std::string open_error(const std::string& bytes) {
    test::TempDir dir;
    const std::string path = dir.file("model.safetensors");
    test::write_file(path, bytes);
    try {
        SafetensorsFile::open(path);
        return "";
    } catch (const ModelError& e) {
        const std::string message = e.what();
        REQUIRE(message.find(path) != std::string::npos);  // the file is always named
        return message;
    }
}

}  // namespace

TEST_CASE("safetensors: reads F32, F16 and BF16 tensors", "[safetensors]") {
    test::TempDir dir;
    const std::string path = dir.file("ok.safetensors");
    // F16 0x3c00 = 1.0, 0xc000 = -2.0; BF16 0x3fc0 = 1.5, 0x0001 = smallest subnormal F16
    const std::string f16("\x00\x3c\x00\xc0\x01\x00", 6), bf16("\xc0\x3f", 2);
    const std::string header =
        R"({"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},)"
        R"("h":{"dtype":"F16","shape":[3],"data_offsets":[16,22]},)"
        R"("b":{"dtype":"BF16","shape":[1],"data_offsets":[22,24]},"__metadata__":{"format":"pt"}})";
    test::write_file(path, safetensors_bytes(header, floats({1, 2, 3, -4.5f}) + f16 + bf16));
    const auto file = SafetensorsFile::open(path);
    CHECK(file.tensors().size() == 3);
    CHECK(file.metadata().at("format") == "pt");
    CHECK(file.info("a").shape == std::vector<int64_t>{2, 2});
    CHECK(file.read_f32("a") == std::vector<float>{1, 2, 3, -4.5f});
    const auto h = file.read_f32("h");
    CHECK(h[0] == 1.0f);
    CHECK(h[1] == -2.0f);
    CHECK(h[2] == Approx(5.960464477539063e-08).epsilon(1e-6));
    CHECK(file.read_f32("b") == std::vector<float>{1.5f});
    CHECK_THROWS_WITH(file.info("missing"), Catch::Contains("missing tensor 'missing'"));
}

TEST_CASE("safetensors: NaN and infinite weights are refused, naming the tensor and the element", "[safetensors]") {
    test::TempDir dir;
    const std::string path = dir.file("poisoned.safetensors");
    // F32 NaN 0x7fc00000 as element 1 of "a"; BF16 +infinity 0x7f80; F16 -infinity 0xfc00.
    const std::string nan_f32("\x00\x00\xc0\x7f", 4), inf_bf16("\x80\x7f", 2), inf_f16("\x00\xfc", 2);
    const std::string header =
        R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
        R"("b":{"dtype":"BF16","shape":[1],"data_offsets":[8,10]},)"
        R"("h":{"dtype":"F16","shape":[1],"data_offsets":[10,12]}})";
    test::write_file(path, safetensors_bytes(header, floats({1}) + nan_f32 + inf_bf16 + inf_f16));
    const auto file = SafetensorsFile::open(path);
    CHECK_THROWS_WITH(file.read_f32("a"), Catch::Contains("tensor 'a' holds a non-finite value") &&
                                              Catch::Contains("at element 1") && Catch::Contains(path));
    CHECK_THROWS_WITH(file.read_f32("b"), Catch::Contains("tensor 'b' holds a non-finite value"));
    CHECK_THROWS_WITH(file.read_f32("h"), Catch::Contains("tensor 'h' holds a non-finite value"));
}

TEST_CASE("safetensors: malformed files are refused with a reason", "[safetensors][errors]") {
    const std::string t = R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
    const std::string data = floats({1, 2});
    CHECK_THAT(open_error(""), Catch::Contains("too short"));
    CHECK_THAT(open_error("abc"), Catch::Contains("too short"));
    CHECK_THAT(open_error(std::string("\xff\xff\xff\xff\xff\xff\xff\x7f", 8) + "{}"), Catch::Contains("exceeds the limit"));
    CHECK_THAT(open_error(std::string("\x10\x00\x00\x00\x00\x00\x00\x00", 8) + "{}"), Catch::Contains("larger than the file"));
    CHECK_THAT(open_error(safetensors_bytes("{not json", data)), Catch::Contains("not valid JSON"));
    // As strict as the reference reader (safetensors' own validate()):
    CHECK_THAT(open_error(safetensors_bytes("[1,2]", data)), Catch::Contains("does not begin with '{'"));
    CHECK_THAT(open_error(safetensors_bytes(" " + t, data)), Catch::Contains("does not begin with '{'"));
    CHECK_THAT(open_error(safetensors_bytes(R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                                            R"("t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", data)),
               Catch::Contains("\"t\" appears twice"));
    CHECK_THAT(open_error(safetensors_bytes(t + std::string(1, '\0') + "junk", data)), Catch::Contains("NUL byte"));
    CHECK_THAT(open_error(safetensors_bytes(R"({"t":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", data)),
               Catch::Contains("a hole of 4 bytes before tensor 't'"));
    CHECK_THAT(open_error(safetensors_bytes(t, data + "xx")), Catch::Contains("2 bytes after the last tensor"));
    CHECK(open_error(safetensors_bytes(t + "    ", data)).empty());  // space padding is the format's own
    // Deep nesting stops at the reference parser's depth (128) instead of building millions of nodes.
    CHECK_THAT(open_error(safetensors_bytes(R"({"__metadata__":)" + std::string(100000, '[') + "}", data)),
               Catch::Contains("nested more than 128 levels"));
    // Found by fuzz_safetensors: nlohmann throws out_of_range, not parse_error, for this number.
    CHECK_THAT(open_error(safetensors_bytes(R"({"t":{"dtype":"F32","shape":[1E4736],"data_offsets":[0,8]}})", data)),
               Catch::Contains("not valid JSON"));
    CHECK_THAT(open_error(safetensors_bytes(R"({"t":{"dtype":"F99","shape":[2],"data_offsets":[0,8]}})", data)),
               Catch::Contains("unknown dtype 'F99'"));
    CHECK_THAT(open_error(safetensors_bytes(R"({"t":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", data)),
               Catch::Contains("not a non-negative integer"));
    CHECK_THAT(open_error(safetensors_bytes(R"({"t":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", data)),
               Catch::Contains("needs 12"));
    CHECK_THAT(open_error(safetensors_bytes(R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[0,16]}})", data)),
               Catch::Contains("past the data section"));
    CHECK_THAT(open_error(safetensors_bytes(R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}})", data)),
               Catch::Contains("is after end"));
    CHECK_THAT(open_error(safetensors_bytes(
                   R"({"t":{"dtype":"F32","shape":[4294967296,4294967296,16],"data_offsets":[0,8]}})", data)),
               Catch::Contains("overflows"));
    CHECK_THAT(open_error(safetensors_bytes(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                                            R"("b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", data)),
               Catch::Contains("overlap"));
    CHECK_THAT(open_error(safetensors_bytes(R"({"t":{"dtype":"F32","shape":[2]}})", data)),
               Catch::Contains("data_offsets"));
    CHECK_THAT(open_error(safetensors_bytes(R"({"t":{"dtype":"F32","shape":[1,1,1,1,1,1,1,1,1],"data_offsets":[0,4]}})", data)),
               Catch::Contains("rank 9"));
    CHECK(open_error(safetensors_bytes(t, data)).empty());
}

TEST_CASE("safetensors: missing file and integer dtypes", "[safetensors][errors]") {
    CHECK_THROWS_WITH(SafetensorsFile::open("/nonexistent/model.safetensors"),
                      Catch::Contains("/nonexistent/model.safetensors") && Catch::Contains("cannot open"));
    test::TempDir dir;
    test::write_file(dir.file("i.safetensors"),
                     safetensors_bytes(R"({"i":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}})", std::string(8, '\0')));
    const auto file = SafetensorsFile::open(dir.file("i.safetensors"));
    CHECK_THROWS_WITH(file.read_f32("i"), Catch::Contains("must be F32, F16 or BF16"));
}
