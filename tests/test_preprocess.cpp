// Front end: decoding, channel conversion, resize/crop, normalisation, patchify.
#include <catch2/catch.hpp>
#include <filesystem>
#include <opencv2/imgcodecs.hpp>

#include "errors.hpp"
#include "image/decode.hpp"
#include "image/image_size.hpp"
#include "image/patchify.hpp"
#include "image/preprocess.hpp"
#include "test_helpers.hpp"

using namespace vitc;

TEST_CASE("patchify orders each token (channel, row, column)", "[patchify]") {
    // 2 channels, 4x4 image, value = c*100 + y*10 + x
    std::vector<float> image(2 * 4 * 4);
    for (int c = 0; c < 2; ++c)
        for (int y = 0; y < 4; ++y)
            for (int x = 0; x < 4; ++x) image[(c * 4 + y) * 4 + x] = c * 100 + y * 10 + x;
    std::vector<float> patches(4 * 8);
    patchify(image.data(), 2, 4, 4, 2, patches.data());
    // token 1 is the top-right patch: channel 0 rows 0-1 cols 2-3, then channel 1
    const std::vector<float> token1(patches.begin() + 8, patches.begin() + 16);
    CHECK(token1 == std::vector<float>{2, 3, 12, 13, 102, 103, 112, 113});
    // token 2 is the bottom-left patch
    CHECK(patches[16] == 20);
    SECTION("patch size 1 makes each pixel a token") {
        std::vector<float> pixels(16 * 2);
        patchify(image.data(), 2, 4, 4, 1, pixels.data());
        CHECK(pixels[2 * 5] == 11);      // pixel (1,1), channel 0
        CHECK(pixels[2 * 5 + 1] == 111); // pixel (1,1), channel 1
    }
}

TEST_CASE("preprocess: gray 8-bit, normalised like (x/255 - mean)/std", "[preprocess]") {
    cv::Mat image(2, 2, CV_8UC1);
    image.at<uint8_t>(0, 0) = 0;
    image.at<uint8_t>(0, 1) = 255;
    image.at<uint8_t>(1, 0) = 51;
    image.at<uint8_t>(1, 1) = 102;
    Preprocessing p;
    p.resize_height = p.resize_width = 2;
    p.mean = {0.5f};
    p.std = {0.25f};
    std::vector<float> out(4);
    preprocess_image(image, p, 1, out.data());
    CHECK(out[0] == Approx(-2.0f));
    CHECK(out[1] == Approx(2.0f));
    CHECK(out[2] == Approx((0.2f - 0.5f) / 0.25f));
    SECTION("gray to RGB repeats the channel") {
        p.mean = {0.5f, 0.5f, 0.5f};
        p.std = {0.25f, 0.25f, 0.25f};
        std::vector<float> rgb(12);
        preprocess_image(image, p, 3, rgb.data());
        CHECK(rgb[1] == Approx(2.0f));
        CHECK(rgb[4 + 1] == Approx(2.0f));
        CHECK(rgb[8 + 1] == Approx(2.0f));
    }
}

TEST_CASE("preprocess: BGR becomes RGB; 16-bit scaled; colour to gray uses luma", "[preprocess]") {
    cv::Mat bgr(1, 1, CV_8UC3, cv::Scalar(255, 0, 0));  // pure blue
    Preprocessing p;
    p.resize_height = p.resize_width = 1;
    p.do_normalize = false;
    std::vector<float> rgb(3);
    preprocess_image(bgr, p, 3, rgb.data());
    CHECK(rgb == std::vector<float>{0.0f, 0.0f, 1.0f});
    cv::Mat deep(1, 1, CV_16UC1, cv::Scalar(65535));
    std::vector<float> gray(1);
    preprocess_image(deep, p, 1, gray.data());
    CHECK(gray[0] == Approx(1.0f));
    std::vector<float> luma(1);
    preprocess_image(bgr, p, 1, luma.data());
    CHECK(luma[0] == Approx(0.114f).margin(0.005));
}

TEST_CASE("preprocess: shortest-edge resize then centre crop", "[preprocess]") {
    cv::Mat image(40, 80, CV_8UC1);
    for (int x = 0; x < 80; ++x) image.col(x).setTo(x < 40 ? 0 : 255);  // left half black
    Preprocessing p;
    p.resize = Preprocessing::Resize::ShortestEdge;
    p.shortest_edge = 20;  // -> 20x40
    p.crop_height = p.crop_width = 20;  // centre: columns 10..29 of the 40
    p.do_normalize = false;
    std::vector<float> out(20 * 20);
    preprocess_image(image, p, 1, out.data());
    CHECK(out[0] == Approx(0.0f));
    CHECK(out[19] == Approx(1.0f));
}

TEST_CASE("decode: real PNG round trip, and broken input named with its reason", "[decode][errors]") {
    test::TempDir dir;
    cv::Mat image(3, 5, CV_8UC1, cv::Scalar(7));
    REQUIRE(cv::imwrite(dir.file("ok.png"), image));
    const cv::Mat decoded = decode_image(dir.file("ok.png"));
    CHECK(decoded.rows == 3);
    CHECK(decoded.cols == 5);
    CHECK(decoded.channels() == 1);
    CHECK(decoded.at<uint8_t>(2, 4) == 7);

    test::write_file(dir.file("empty.png"), "");
    CHECK_THROWS_WITH(decode_image(dir.file("empty.png")), Catch::Contains("empty.png") && Catch::Contains("empty file"));
    test::write_file(dir.file("text.png"), "this is not an image");
    CHECK_THROWS_WITH(decode_image(dir.file("text.png")), Catch::Contains("not an image"));
    CHECK_THROWS_WITH(decode_image(dir.file("missing.png")), Catch::Contains("cannot open"));
    DecodeLimits small;
    small.max_pixels = 10;
    CHECK_THROWS_WITH(decode_image(dir.file("ok.png"), small), Catch::Contains("over the limit of 10"));
}

TEST_CASE("decode: EXIF orientation is applied", "[decode]") {
    // A 16x8 JPEG whose EXIF orientation 6 says "rotate 90 degrees clockwise to display".
    const cv::Mat image = decode_image(std::string(VITC_TEST_SEEDS_DIR) + "/exif-rotate90.jpg");
    CHECK(image.cols == 8);
    CHECK(image.rows == 16);
    const cv::Mat plain = decode_image(std::string(VITC_TEST_SEEDS_DIR) + "/small.jpg");
    CHECK(plain.cols == 16);
    CHECK(plain.rows == 8);
}

TEST_CASE("decode: header sizes are read before decoding", "[decode]") {
    test::TempDir dir;
    cv::Mat image(3, 5, CV_8UC3, cv::Scalar(1, 2, 3));
    for (const char* ext : {".png", ".jpg", ".bmp", ".webp", ".pgm", ".tiff"}) {
        const std::string path = dir.file(std::string("x") + ext);
        const cv::Mat written = std::string(ext) == ".pgm" ? cv::Mat(3, 5, CV_8UC1, cv::Scalar(9)) : image;
        REQUIRE(cv::imwrite(path, written));
        DecodeLimits limits;
        limits.max_pixels = 14;  // 15 pixels declared: refused from the header
        CHECK_THROWS_WITH(decode_image(path, limits), Catch::Contains("header declares 5x3"));
    }
}

TEST_CASE("decode: found by fuzz_image, a JPEG with bytes between segments hides no oversized frame", "[decode]") {
    // libjpeg skips stray bytes between segments; the header check must too, or the 10000 x 65290
    // frame below went to the decoder, which allocated 2 GB before the pixel limit was checked.
    std::vector<unsigned char> jpeg = {0xff, 0xd8, 0xff, 0xe0, 0x00, 0x04, 0x00, 0x00, 0x12, 0x34, 0x56,  // APP0 + 3 stray
                                       0xff, 0xc0, 0x00, 0x11, 0x08, 0xff, 0x0a, 0x27, 0x10, 0x03};
    jpeg.resize(64, 0);
    CHECK_THROWS_WITH(decode_image_bytes(jpeg, "stray.jpg"), Catch::Contains("header declares 10000x65290"));
}

TEST_CASE("decode: TIFF sizes, little- and big-endian, classic and BigTIFF, come from the first IFD", "[decode]") {
    // A 20000 x 30000 first page: one IFD entry each for ImageWidth (256, LONG) and ImageLength
    // (257, SHORT); the bytes are written out by hand for each byte order and variant.
    const auto tiff = [](bool little, bool big) {
        std::vector<unsigned char> b;
        const auto put = [&](uint64_t v, int bytes) {
            for (int k = 0; k < bytes; ++k) b.push_back(static_cast<unsigned char>(v >> (8 * (little ? k : bytes - 1 - k))));
        };
        b.push_back(little ? 'I' : 'M');
        b.push_back(little ? 'I' : 'M');
        put(big ? 43 : 42, 2);
        if (big) {
            put(8, 2);
            put(0, 2);
            put(16, 8);  // IFD at 16
            put(2, 8);   // 2 entries of 20 bytes: tag, type, count (8), value (8)
            put(256, 2), put(4, 2), put(1, 8), put(20000, 4), put(0, 4);
            put(257, 2), put(3, 2), put(1, 8), put(30000, 2), put(0, 6);
        } else {
            put(8, 4);   // IFD at 8
            put(2, 2);   // 2 entries of 12 bytes: tag, type, count (4), value (4)
            put(256, 2), put(4, 2), put(1, 4), put(20000, 4);
            put(257, 2), put(3, 2), put(1, 4), put(30000, 2), put(0, 2);
        }
        put(0, big ? 8 : 4);  // no next IFD
        return b;
    };
    for (bool little : {true, false})
        for (bool big : {false, true}) {
            INFO("little-endian " << little << ", BigTIFF " << big);
            CHECK_THROWS_WITH(decode_image_bytes(tiff(little, big), "bomb.tiff"), Catch::Contains("header declares 20000x30000"));
        }
}

TEST_CASE("decode: a header declaring 4294967295 x 4294967295 pixels is refused without overflow", "[decode]") {
    // Found by fuzz_image: width * height overflowed int64 (UBSan). The bytes are the fuzzer's
    // crash input, kept in tests/fuzz/corpus/image/.
    std::vector<unsigned char> png = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13, 'I', 'H', 'D', 'R'};
    for (int i = 0; i < 8; ++i) png.push_back(0xff);
    png.resize(64, 0);
    CHECK_THROWS_WITH(decode_image_bytes(png, "huge.png"), Catch::Contains("over the limit"));
}

TEST_CASE("decode: broken images leak no file descriptors", "[decode]") {
    // Found by fuzz_image ("Too many open files"): the stderr capture leaked its temporary file.
    auto open_descriptors = [] {
        return std::distance(std::filesystem::directory_iterator("/proc/self/fd"), std::filesystem::directory_iterator{});
    };
    const std::vector<unsigned char> broken = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 1, 2, 3};
    const auto before = open_descriptors();
    for (int i = 0; i < 200; ++i) CHECK_THROWS_AS(decode_image_bytes(broken, "broken.png"), ImageError);
    CHECK(open_descriptors() == before);
}
