// Bring your own model: a timm hub ResNet folder, a Hugging Face ResNetForImageClassification
// folder and torchvision .pth checkpoints (converted natively) give PyTorch's logits
// (scripts/make_byom_fixtures.py, tests/data/byom/); the restricted unpickler and the zip reader
// refuse malicious, malformed and truncated checkpoints without running or crashing anything.
#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "errors.hpp"
#include "io/checkpoint.hpp"
#include "tasks/checkpoint_convert.hpp"
#include "io/pickle.hpp"
#include "io/safetensors.hpp"
#include "io/zip_archive.hpp"
#include "models/model.hpp"
#include "test_helpers.hpp"

namespace fs = std::filesystem;
using namespace vitc;

namespace {

const fs::path kData = fs::path(VITC_TEST_DATA_DIR) / "byom";

// The fixtures' logits reach ~10; float32 through a few convolutions stays within 1e-4 of float64.
constexpr float kTolerance = 1e-4f;

// Runs the model on the fixture's already-normalised input; the largest difference to its logits.
float logit_error(const Model& model, const fs::path& io_file) {
    const auto io = SafetensorsFile::open(io_file.string());
    const auto& shape = io.info("input").shape;
    const std::vector<float> input = io.read_f32("input"), expected = io.read_f32("logits");
    auto session = model.create_session(static_cast<int>(shape[0]), static_cast<int>(shape[2]), static_cast<int>(shape[3]));
    std::vector<float> logits(expected.size());
    session->run(input.data(), logits.data());
    float worst = 0;
    for (size_t i = 0; i < logits.size(); ++i) worst = std::max(worst, std::abs(logits[i] - expected[i]));
    return worst;
}

std::string error_of(const std::function<void()>& f) {
    try {
        f();
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}

// A copy of a fixture folder with config.json edited.
void copy_folder(const fs::path& from, const fs::path& to, const std::function<void(nlohmann::json&)>& edit) {
    for (const auto& entry : fs::directory_iterator(from)) fs::copy_file(entry.path(), to / entry.path().filename());
    nlohmann::json config = nlohmann::json::parse(test::read_bytes(from / "config.json"));
    edit(config);
    fs::remove(to / "config.json");
    test::write_file((to / "config.json").string(), config.dump());
}

Pickle parse(const std::string& bytes) { return unpickle(bytes, "test.pth"); }

// Byte strings that may hold NULs.
std::string operator""_b(const char* s, size_t n) { return std::string(s, n); }

// Pickle fragments (protocol 2).
std::string unicode(const std::string& s) {
    std::string out = "X";
    for (int i = 0; i < 4; ++i) out += static_cast<char>((s.size() >> (8 * i)) & 0xff);
    return out + s;
}

}  // namespace

TEST_CASE("A timm hub ResNet folder loads with its sizes inferred and gives PyTorch's logits", "[byom]") {
    const auto model = load_model((kData / "timm_resnet18").string());
    const ModelSummary s = model->summary();
    CHECK(s.family == "resnet");
    CHECK(s.weight_scheme == "timm");
    CHECK(s.architecture.find("basic blocks 2,2,2,2, widths 4,8,8,16") != std::string::npos);
    CHECK(model->labels() == std::vector<std::string>{"sneaker", "sandal", "boot"});
    // pretrained_cfg: input 32, crop_pct 0.875 -> shorter side to 36, centre crop 32, bicubic.
    const Preprocessing& p = model->preprocessing();
    CHECK(p.resize == Preprocessing::Resize::ShortestEdge);
    CHECK(p.shortest_edge == 36);
    CHECK(p.crop_height == 32);
    CHECK(p.interpolation == Interpolation::Bicubic);
    CHECK(logit_error(*model, kData / "timm_resnet18" / "io.safetensors") <= kTolerance);
}

TEST_CASE("A Hugging Face ResNetForImageClassification folder loads under transformers' names", "[byom]") {
    const auto model = load_model((kData / "hf_resnet").string());
    const ModelSummary s = model->summary();
    CHECK(s.weight_scheme == "huggingface");
    CHECK(s.architecture.find("bottleneck blocks 1,2,1,1, widths 4,8,8,16") != std::string::npos);
    CHECK(model->labels().at(0) == "tabby cat");
    // ConvNextImageProcessor: shortest_edge 32 / crop_pct 0.875 -> 36, then a 32x32 centre crop.
    CHECK(model->preprocessing().shortest_edge == 36);
    CHECK(model->preprocessing().crop_height == 32);
    CHECK(logit_error(*model, kData / "hf_resnet" / "io.safetensors") <= kTolerance);
}

TEST_CASE("ResNet folders whose config contradicts the tensors are refused with the reason", "[byom]") {
    SECTION("timm architecture name vs. the tensors") {
        test::TempDir dir;
        copy_folder(kData / "timm_resnet18", dir.path, [](nlohmann::json& c) { c["architecture"] = "resnet50"; });
        CHECK_THAT(error_of([&] { load_model(dir.path.string()); }),
                   Catch::Matchers::Contains("basic blocks [2, 2, 2, 2], but config.json names 'resnet50'"));
    }
    SECTION("Hugging Face depths vs. the tensors") {
        test::TempDir dir;
        copy_folder(kData / "hf_resnet", dir.path, [](nlohmann::json& c) { c["depths"] = {1, 1, 1, 1}; });
        CHECK_THAT(error_of([&] { load_model(dir.path.string()); }),
                   Catch::Matchers::Contains("resnet.encoder.stages.1.layers.1.layer.0.convolution.weight' exists"));
    }
    SECTION("Hugging Face layout vitc does not implement") {
        test::TempDir dir;
        copy_folder(kData / "hf_resnet", dir.path, [](nlohmann::json& c) { c["downsample_in_first_stage"] = true; });
        CHECK_THAT(error_of([&] { load_model(dir.path.string()); }),
                   Catch::Matchers::Contains("downsample_in_first_stage' = true is not supported"));
    }
}

TEST_CASE("vitc convert: a torchvision ResNet .pth (strided views) gives PyTorch's logits", "[byom][convert]") {
    test::TempDir dir;
    const fs::path folder = kData / "torchvision_resnet18";
    ConvertOptions options;
    options.arch = "resnet18";
    options.image_size = 32;
    options.labels = {"T-shirt", "Trouser", "Pullover", "Dress", "Coat"};
    const std::string out = dir.file("model");
    const std::string summary = convert_checkpoint((folder / "resnet18.pth").string(), options, out);
    CHECK_THAT(summary, Catch::Matchers::Contains("resnet18, basic blocks [2,2,2,2], widths [4,8,8,16]"));
    const auto model = load_model(out);
    CHECK(model->labels() == options.labels);
    CHECK(logit_error(*model, folder / "io.safetensors") <= kTolerance);

    SECTION("the strided fc.weight is read in its logical order") {
        const auto checkpoint = TorchCheckpoint::open((folder / "resnet18.pth").string());
        const auto weights = SafetensorsFile::open(out + "/model.safetensors");
        CHECK(checkpoint.read_f32("fc.weight") == weights.read_f32("fc.weight"));
        CHECK(checkpoint.shape("fc.weight") == std::vector<int64_t>{5, 16});
    }
    SECTION("the wrong architecture, a label count off by one, an occupied --out") {
        ConvertOptions wrong = options;
        wrong.arch = "resnet34";
        CHECK_THAT(error_of([&] { convert_checkpoint((folder / "resnet18.pth").string(), wrong, dir.file("b")); }),
                   Catch::Matchers::Contains("not resnet34 (basic blocks [3,4,6,3])"));
        ConvertOptions labels = options;
        labels.labels.pop_back();
        CHECK_THAT(error_of([&] { convert_checkpoint((folder / "resnet18.pth").string(), labels, dir.file("c")); }),
                   Catch::Matchers::Contains("4 labels, but 'fc.weight' has 5 classes"));
        CHECK_THAT(error_of([&] { convert_checkpoint((folder / "resnet18.pth").string(), options, out); }),
                   Catch::Matchers::Contains("exists and is not an empty folder"));
        CHECK(!fs::exists(dir.file("b")));
        CHECK(!fs::exists(dir.file("c")));
    }
}

TEST_CASE("vitc convert: a float16 torchvision ViT .pth gives PyTorch's logits", "[byom][convert]") {
    test::TempDir dir;
    const fs::path folder = kData / "torchvision_vit_b_16";
    ConvertOptions options;
    options.arch = "vit_b_16";
    options.heads = 2;
    const std::string out = dir.file("model");
    convert_checkpoint((folder / "vit_b_16.pth").string(), options, out);
    const auto model = load_model(out);
    CHECK(model->summary().weight_scheme == "torchvision");
    CHECK(model->labels().size() == 3);
    CHECK(logit_error(*model, folder / "io.safetensors") <= kTolerance);
    // Without --heads the 64-dimensional heads of vit_b_16 do not divide hidden size 32.
    options.heads = 0;
    CHECK_THAT(error_of([&] { convert_checkpoint((folder / "vit_b_16.pth").string(), options, dir.file("x")); }),
               Catch::Matchers::Contains("give --heads N"));
}

TEST_CASE("Checkpoints that would run code when unpickled by Python are refused, and nothing runs", "[byom][pickle]") {
    const std::string marker = "/tmp/vitc-byom-pwned";
    std::error_code ec;
    fs::remove(marker, ec);
    const std::pair<const char*, const char*> cases[] = {
        {"os_system.pth", "refused GLOBAL 'posix.system'"},
        {"builtins_eval.pth", "refused GLOBAL 'builtins.eval'"},
        {"subprocess_popen.pth", "refused GLOBAL 'subprocess.Popen'"},  // protocol 4: STACK_GLOBAL
    };
    for (const auto& [file, message] : cases) {
        const std::string path = (kData / "malicious" / file).string();
        const std::string error = error_of([&] { TorchCheckpoint::open(path); });
        INFO(error);
        CHECK_THAT(error, Catch::Matchers::StartsWith(path + ": data.pkl: "));
        CHECK_THAT(error, Catch::Matchers::Contains(message));
        CHECK(error.find('\n') == std::string::npos);
    }
    CHECK(!fs::exists(marker));
}

TEST_CASE("The unpickler refuses crafted pickles with a reason and bounded work", "[byom][pickle]") {
    const std::string proto = "\x80\x02";
    // STACK_GLOBAL (protocol 4) names a callable just as GLOBAL does.
    CHECK_THAT(error_of([&] { parse("\x80\x04" + unicode("os") + unicode("system") + "\x93" + "."); }),
               Catch::Matchers::Contains("refused GLOBAL 'os.system'"));
    // REDUCE of something that is not an allowed callable, and of an allowed name that is not a function.
    CHECK_THAT(error_of([&] { parse(proto + unicode("x") + ")R."); }),
               Catch::Matchers::Contains("REDUCE of something that is not a callable"));
    CHECK_THAT(error_of([&] { parse(proto + "ctorch\nFloatStorage\n)R."); }),
               Catch::Matchers::Contains("refused REDUCE of 'torch.FloatStorage'"));
    CHECK_THAT(error_of([&] { parse(proto + "ccollections\nOrderedDict\n" + unicode("x") + "\x85R."); }),
               Catch::Matchers::Contains("OrderedDict with arguments"));
    // Opcodes a state_dict never needs: INST, OBJ, NEWOBJ, EXT1.
    for (const char* op : {"i", "o", "\x81", "\x82"})
        CHECK_THAT(error_of([&] { parse(proto + op + "."); }), Catch::Matchers::Contains("refused opcode"));
    // Truncated, missing STOP, unknown memo, too-wide integers, empty stack.
    CHECK_THAT(error_of([&] { parse(proto + "X\x10\x00\x00\x00" "abc."_b); }), Catch::Matchers::Contains("truncated"));
    CHECK_THAT(error_of([&] { parse(proto + "X\xff\xff\xff\x7f" "abc."); }), Catch::Matchers::Contains("a string of 2147483647 bytes"));
    CHECK_THAT(error_of([&] { parse(proto + "N"); }), Catch::Matchers::Contains("without a STOP"));
    CHECK_THAT(error_of([&] { parse(proto + "h\x05."); }), Catch::Matchers::Contains("memo index 5 was never stored"));
    CHECK_THAT(error_of([&] { parse(proto + "\x8a\x09" + std::string(9, '\x01') + "."); }),
               Catch::Matchers::Contains("wider than 64 bits"));
    CHECK_THAT(error_of([&] { parse(proto + "."); }), Catch::Matchers::Contains("pops an empty stack"));
    CHECK_THAT(error_of([&] { parse(proto + "(N0N."); }), Catch::Matchers::Contains("ends with an unclosed MARK"));
    // Bounds: marks and stack depth.
    CHECK_THAT(error_of([&] { parse(proto + std::string(70000, '(') + "."); }),
               Catch::Matchers::Contains("open MARKs"));
    CHECK_THAT(error_of([&] { parse(proto + std::string((1 << 20) + 1, 'N') + "."); }),
               Catch::Matchers::Contains("stack deeper"));
    // A list that holds itself is harmless data (values refer to each other by index) ...
    const Pickle self = parse(proto + "]q\x00h\x00" "a."_b);
    CHECK(self.at(self.root).kind == PickleValue::Kind::List);
    // ... but not a state_dict.
    CHECK_THAT(error_of([&] { state_dict_tensors(self, "test.pth"); }), Catch::Matchers::Contains("does not hold a dict"));
}

TEST_CASE("Tensor views are checked against their storage", "[byom][pickle]") {
    // {'w': _rebuild_tensor_v2(storage('0', FloatStorage, numel 4), offset, size, stride, False, OrderedDict())}
    const auto tensor_pickle = [](const std::string& offset, const std::string& size, const std::string& stride) {
        return std::string("\x80\x02}") + unicode("w") + "ctorch._utils\n_rebuild_tensor_v2\n(" + "(" + unicode("storage") +
               "ctorch\nFloatStorage\n" + unicode("0") + unicode("cpu") + "K\x04tQ" + offset + size + stride +
               "\x89" + "ccollections\nOrderedDict\n)RtRs.";
    };
    const Pickle ok = parse(tensor_pickle("K\x00"_b, "K\x02K\x02\x86", "K\x02K\x01\x86"));
    const auto tensors = state_dict_tensors(ok, "t");
    REQUIRE(tensors.size() == 1);
    CHECK(tensors[0].second.shape == std::vector<int64_t>{2, 2});
    CHECK_THAT(error_of([&] { parse(tensor_pickle("K\x01", "K\x02K\x02\x86", "K\x02K\x01\x86")); }),
               Catch::Matchers::Contains("reaches element 4 of storage '0', which has 4"));
    CHECK_THAT(error_of([&] { parse(tensor_pickle("K\x00"_b, "K\x02\x85", "K\x02K\x01\x86")); }),
               Catch::Matchers::Contains("size and stride differ"));
    CHECK_THAT(error_of([&] { parse(tensor_pickle("J\xff\xff\xff\xff", "K\x02\x85", "K\x01\x85")); }),
               Catch::Matchers::Contains("negative or non-integer storage offset"));
    // Huge sizes cannot overflow the extent check.
    const std::string huge = "\x8a\x08" + std::string("\xff\xff\xff\xff\xff\xff\xff\x3f", 8);
    CHECK_THAT(error_of([&] { parse(tensor_pickle("K\x00"_b, "(" + huge + huge + "t", "K\x01K\x01\x86")); }),
               Catch::Matchers::Contains("negative, huge or non-integer"));
}

TEST_CASE("The zip reader refuses compressed, damaged and truncated checkpoints", "[byom][zip]") {
    const fs::path pth = kData / "torchvision_resnet18" / "resnet18.pth";
    const std::string good = test::read_bytes(pth);
    REQUIRE(TorchCheckpoint::from_archive(ZipArchive::from_bytes(good, "good.pth")).names().size() == 122);

    SECTION("a compressed entry (method 8 in its local and central headers)") {
        std::string bytes = good;
        const size_t central = bytes.find("PK\x01\x02");
        REQUIRE(central != std::string::npos);
        bytes[central + 10] = 8;
        bytes[8] = 8;  // the first local header's method
        CHECK_THAT(error_of([&] { ZipArchive::from_bytes(bytes, "x.pth"); }),
                   Catch::Matchers::Contains("is compressed (method 8)"));
    }
    SECTION("a flipped byte in a storage fails its CRC") {
        std::string bytes = good;
        bytes[ZipArchive::from_bytes(good, "x").find("resnet18/data/0")->data_offset + 100] ^= 0x40;
        CHECK_THAT(error_of([&] { TorchCheckpoint::from_archive(ZipArchive::from_bytes(bytes, "x.pth")); }),
                   Catch::Matchers::Contains("entry 'resnet18/data/0' fails its CRC-32 check"));
    }
    SECTION("every truncation is an error, never a crash") {
        int refused = 0, tried = 0;
        for (size_t length = 0; length < good.size(); length += 97, ++tried)
            refused += !error_of([&] { TorchCheckpoint::from_archive(ZipArchive::from_bytes(good.substr(0, length), "t")); }).empty();
        CHECK(refused == tried);
    }
    SECTION("not a zip at all") {
        CHECK_THAT(error_of([&] { ZipArchive::from_bytes(std::string(100, 'x'), "x.pth"); }),
                   Catch::Matchers::Contains("no end-of-central-directory record"));
    }
}
