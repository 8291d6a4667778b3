#include "image/decode.hpp"

#include <algorithm>

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <mutex>
#include <cstring>
#include <opencv2/imgcodecs.hpp>

#include "errors.hpp"
#include "image/image_size.hpp"
#include "io/printable.hpp"
#include "io/read_file.hpp"

namespace vitc {

namespace {

// libpng and libjpeg print their complaints straight to stderr. While OpenCV decodes, stderr is
// pointed at a temporary file, so that the complaint becomes part of one error message instead of
// a stray line. The mutex keeps two decoding threads from swapping the descriptor under each other.
class StderrCapture {
public:
    StderrCapture() : lock_(mutex()) {
        std::fflush(stderr);
        file_ = std::tmpfile();
        saved_ = file_ ? ::dup(STDERR_FILENO) : -1;
        if (saved_ >= 0) ::dup2(::fileno(file_), STDERR_FILENO);
    }
    ~StderrCapture() {
        restore();
        if (file_) std::fclose(file_);
    }

    // What was printed, as one line.
    std::string text() {
        restore();
        std::string out;
        if (!file_) return out;
        std::rewind(file_);
        char buffer[512];
        const size_t n = std::fread(buffer, 1, sizeof buffer, file_);
        for (size_t i = 0; i < n; ++i) out += buffer[i] == '\n' ? ' ' : buffer[i];
        while (!out.empty() && out.back() == ' ') out.pop_back();
        return out;
    }

private:
    static std::mutex& mutex() {
        static std::mutex m;
        return m;
    }
    void restore() {
        if (saved_ >= 0) {
            std::fflush(stderr);
            ::dup2(saved_, STDERR_FILENO);
            ::close(saved_);
            saved_ = -1;
        }
    }
    std::lock_guard<std::mutex> lock_;
    std::FILE* file_ = nullptr;
    int saved_ = -1;
};

}  // namespace

namespace {

// Formats whose OpenCV decoder can take the process down on a malformed file, refused unread.
// DICOM ("DICM" at byte 128): Debian's OpenCV decodes it with GDCM, which fails an assert()
// (abort) on crafted input; fuzz_image found one in 134 bytes (tests/hostile/seeds/dicom-abort.dcm).
const char* refused_format(const std::vector<unsigned char>& bytes) {
    static const unsigned char kDicom[] = {'D', 'I', 'C', 'M'};
    if (bytes.size() >= 132 && std::equal(kDicom, kDicom + 4, bytes.begin() + 128))
        return "DICOM files are not read (OpenCV's DICOM decoder can abort on malformed ones)";
    return nullptr;
}

}  // namespace

cv::Mat decode_image_bytes(const std::vector<unsigned char>& bytes, const std::string& name,
                           const DecodeLimits& limits) {
    if (bytes.empty()) throw ImageError(name, "empty file");
    if (const char* reason = refused_format(bytes)) throw ImageError(name, reason);
    if (const auto size = peek_image_size(bytes)) {
        if (size->width < 1 || size->height < 1)
            throw ImageError(name, "header declares a " + std::to_string(size->width) + "x" +
                                       std::to_string(size->height) + " image");
        if (size->width > limits.max_pixels / size->height)  // no overflow: both are at least 1
            throw ImageError(name, "header declares " + std::to_string(size->width) + "x" +
                                       std::to_string(size->height) + " pixels, over the limit of " +
                                       std::to_string(limits.max_pixels) + " (--max-pixels)");
        if (size->width * size->height > limits.max_decoded_bytes / size->bytes_per_pixel)
            throw ImageError(name, "header declares " + std::to_string(size->width) + "x" +
                                       std::to_string(size->height) + " pixels of up to " +
                                       std::to_string(size->bytes_per_pixel) + " bytes, over the limit of " +
                                       std::to_string(limits.max_decoded_bytes >> 20) + " MiB decoded");
    }
    if (bytes.size() >= 2 && bytes[0] == 0xff && bytes[1] == 0xd8) {
        const int64_t scans = count_jpeg_scans(bytes);
        if (scans > limits.max_jpeg_scans)
            throw ImageError(name, "JPEG with " + std::to_string(scans) + " scans, over the limit of " +
                                       std::to_string(limits.max_jpeg_scans) +
                                       " (each scan is another pass of the decoder over the whole image)");
    }
    cv::Mat image;
    std::string decoder_says;
    {
        StderrCapture capture;
        try {
            // ANYCOLOR|ANYDEPTH keeps gray as gray and 16-bit as 16-bit, and (unlike UNCHANGED)
            // applies the EXIF orientation.
            image = cv::imdecode(bytes, cv::IMREAD_ANYCOLOR | cv::IMREAD_ANYDEPTH);
        } catch (const cv::Exception& e) {
            image.release();
            decoder_says = e.err;
        }
        const std::string printed = printable(capture.text());  // a decoder's words, not ours: no raw bytes
        if (!printed.empty()) decoder_says = printed + (decoder_says.empty() ? "" : "; " + decoder_says);
    }
    if (image.empty())
        throw ImageError(name, "not an image OpenCV can decode, or truncated" +
                                   (decoder_says.empty() ? std::string() : " (" + decoder_says + ")"));
    if (static_cast<int64_t>(image.rows) * image.cols > limits.max_pixels)
        throw ImageError(name, std::to_string(image.cols) + "x" + std::to_string(image.rows) +
                                   " pixels exceeds the limit of " + std::to_string(limits.max_pixels) + " (--max-pixels)");
    if (static_cast<int64_t>(image.total() * image.elemSize()) > limits.max_decoded_bytes)
        throw ImageError(name, "decodes to " + std::to_string(image.total() * image.elemSize() >> 20) +
                                   " MiB, over the limit of " + std::to_string(limits.max_decoded_bytes >> 20) + " MiB");
    if (image.depth() == CV_32F || image.depth() == CV_64F) {  // HDR/EXR: clamp to [0, 1] as 16-bit
        cv::Mat converted;
        image.convertTo(converted, CV_16U, 65535.0);
        image = converted;
    } else if (image.depth() != CV_8U && image.depth() != CV_16U) {
        cv::Mat converted;
        image.convertTo(converted, CV_8U);
        image = converted;
    }
    if (image.channels() != 1 && image.channels() != 3 && image.channels() != 4)
        throw ImageError(name, "has " + std::to_string(image.channels()) + " channels; expected 1, 3 or 4");
    return image;
}

cv::Mat decode_image(const std::string& path, const DecodeLimits& limits) {
    std::vector<unsigned char> bytes;
    try {
        bytes = read_regular_file_bytes(path, limits.max_file_bytes, "image");  // a FIFO or device: refused unread
    } catch (const FileError& e) {
        throw ImageError(path, e.reason());
    }
    return decode_image_bytes(bytes, path, limits);
}

}  // namespace vitc
