#include "image/image_size.hpp"

#include <algorithm>
#include <cctype>
#include <cstring>

namespace vitc {

namespace {

uint32_t be16(const unsigned char* p) { return (uint32_t(p[0]) << 8) | p[1]; }
uint32_t be32(const unsigned char* p) { return (be16(p) << 16) | be16(p + 2); }
uint32_t le16(const unsigned char* p) { return (uint32_t(p[1]) << 8) | p[0]; }
uint32_t le32(const unsigned char* p) { return (le16(p + 2) << 16) | le16(p); }

bool starts_with(const std::vector<unsigned char>& b, const char* magic, size_t n, size_t at = 0) {
    return b.size() >= at + n && std::memcmp(b.data() + at, magic, n) == 0;
}

std::optional<ImageSize> jpeg_size(const std::vector<unsigned char>& b) {
    size_t i = 2;
    while (i + 9 < b.size()) {
        if (b[i] != 0xff) {  // bytes between segments: libjpeg skips them ("extraneous bytes"), so do we
            ++i;
            continue;
        }
        const unsigned char marker = b[i + 1];
        if (marker == 0xff) {  // fill byte
            ++i;
            continue;
        }
        if (marker == 0xd8 || marker == 0x01 || (marker >= 0xd0 && marker <= 0xd7)) {  // no length
            i += 2;
            continue;
        }
        const uint32_t length = be16(&b[i + 2]);
        // Start-of-frame markers C0..CF except DHT (C4), JPG (C8) and DAC (CC).
        if (marker >= 0xc0 && marker <= 0xcf && marker != 0xc4 && marker != 0xc8 && marker != 0xcc)
            return ImageSize{be16(&b[i + 7]), be16(&b[i + 5])};
        if (length < 2) return std::nullopt;
        i += 2 + length;
    }
    return std::nullopt;
}

// PNM: "P5\n# comment\n<width> <height>\n..."
std::optional<ImageSize> pnm_size(const std::vector<unsigned char>& b) {
    size_t i = 2;
    int64_t values[2];
    for (int64_t& value : values) {
        while (i < b.size() && (std::isspace(b[i]) || b[i] == '#')) {
            if (b[i] == '#')
                while (i < b.size() && b[i] != '\n') ++i;
            else
                ++i;
        }
        if (i >= b.size() || !std::isdigit(b[i])) return std::nullopt;
        value = 0;
        while (i < b.size() && std::isdigit(b[i]) && value < (int64_t(1) << 40)) value = value * 10 + (b[i++] - '0');
    }
    return ImageSize{values[0], values[1]};
}

// TIFF and BigTIFF: ImageWidth (256) and ImageLength (257) from the first IFD, the page OpenCV
// decodes. Every offset is checked against the file size.
std::optional<ImageSize> tiff_size(const std::vector<unsigned char>& b) {
    const bool little = b[0] == 'I';
    const auto get = [&](size_t at, size_t bytes) -> std::optional<uint64_t> {
        if (at > b.size() || bytes > b.size() - at) return std::nullopt;
        uint64_t v = 0;
        for (size_t k = 0; k < bytes; ++k) v |= uint64_t(b[at + (little ? k : bytes - 1 - k)]) << (8 * k);
        return v;
    };
    const auto version = get(2, 2);
    if (!version || (*version != 42 && *version != 43)) return std::nullopt;
    const bool big = *version == 43;
    const size_t count_bytes = big ? 8 : 2, entry_bytes = big ? 20 : 12, value_at = big ? 12 : 8;
    const auto ifd = big ? get(8, 8) : get(4, 4);
    const auto entries = ifd ? get(*ifd, count_bytes) : std::nullopt;
    if (!entries || *entries > b.size() / entry_bytes) return std::nullopt;
    int64_t width = -1, height = -1;
    for (uint64_t e = 0; e < *entries; ++e) {
        const size_t at = *ifd + count_bytes + e * entry_bytes;
        const auto tag = get(at, 2), type = get(at + 2, 2);
        if (!tag || !type) return std::nullopt;
        if (*tag != 256 && *tag != 257) continue;
        const auto value = *type == 3 ? get(at + value_at, 2) : *type == 4 ? get(at + value_at, 4)
                                                             : *type == 16 ? get(at + value_at, 8) : std::nullopt;
        if (!value || *value > (uint64_t(1) << 40)) return ImageSize{INT64_C(1) << 40, 1};  // unreadable or absurd
        (*tag == 256 ? width : height) = static_cast<int64_t>(*value);
    }
    if (width < 0 || height < 0) return std::nullopt;
    return ImageSize{width, height};
}

// Radiance HDR: "#?RADIANCE" (or "#?RGBE"), header lines, an empty line, then "-Y <h> +X <w>"
// (or another of the eight orientations). OpenCV decodes it to 32-bit floats, 12 bytes a pixel.
std::optional<ImageSize> hdr_size(const std::vector<unsigned char>& b) {
    size_t i = 0;
    const size_t limit = std::min<size_t>(b.size(), 64 * 1024);  // the header is a few lines
    bool blank = false;
    while (i < limit && !blank) {
        const size_t start = i;
        while (i < limit && b[i] != '\n') ++i;
        blank = i == start;
        ++i;
    }
    if (!blank || i >= limit) return std::nullopt;
    int64_t values[2];
    char axes[2];
    for (int k = 0; k < 2; ++k) {
        while (i < limit && b[i] == ' ') ++i;
        if (i + 2 >= limit || (b[i] != '-' && b[i] != '+') || (b[i + 1] != 'X' && b[i + 1] != 'Y')) return std::nullopt;
        axes[k] = static_cast<char>(b[i + 1]);
        i += 2;
        while (i < limit && b[i] == ' ') ++i;
        if (i >= limit || !std::isdigit(b[i])) return std::nullopt;
        values[k] = 0;
        while (i < limit && std::isdigit(b[i]) && values[k] < (int64_t(1) << 40)) values[k] = values[k] * 10 + (b[i++] - '0');
    }
    if (axes[0] == axes[1]) return std::nullopt;
    return axes[0] == 'Y' ? ImageSize{values[1], values[0]} : ImageSize{values[0], values[1]};
}

}  // namespace

int64_t count_jpeg_scans(const std::vector<unsigned char>& b) {
    // Inside entropy-coded data a 0xFF byte is always followed by 0x00 (stuffing) or a restart
    // marker, so every 0xFF 0xDA in the stream is a start-of-scan marker.
    int64_t scans = 0;
    for (size_t i = 0; i + 1 < b.size(); ++i)
        if (b[i] == 0xff && b[i + 1] == 0xda) ++scans;
    return scans;
}

std::optional<ImageSize> peek_image_size(const std::vector<unsigned char>& b) {
    if (starts_with(b, "\x89PNG\r\n\x1a\n", 8) && b.size() >= 25)
        return ImageSize{be32(&b[16]), be32(&b[20]), b[24] == 16 ? 8 : 4};  // 16-bit samples: 2 bytes each
    if (starts_with(b, "\xff\xd8", 2)) return jpeg_size(b);
    if ((starts_with(b, "GIF87a", 6) || starts_with(b, "GIF89a", 6)) && b.size() >= 10)
        return ImageSize{le16(&b[6]), le16(&b[8])};
    if (starts_with(b, "BM", 2) && b.size() >= 26) {
        const int32_t height = static_cast<int32_t>(le32(&b[22]));
        return ImageSize{static_cast<int32_t>(le32(&b[18])), height < 0 ? -int64_t(height) : height};
    }
    if (starts_with(b, "RIFF", 4) && starts_with(b, "WEBP", 4, 8) && b.size() >= 30) {
        if (starts_with(b, "VP8 ", 4, 12)) return ImageSize{le16(&b[26]) & 0x3fff, le16(&b[28]) & 0x3fff};
        if (starts_with(b, "VP8L", 4, 12) && b.size() >= 25) {
            const uint32_t bits = le32(&b[21]);
            return ImageSize{(bits & 0x3fff) + 1, ((bits >> 14) & 0x3fff) + 1};
        }
        if (starts_with(b, "VP8X", 4, 12))
            return ImageSize{(b[24] | (b[25] << 8) | (b[26] << 16)) + 1, (b[27] | (b[28] << 8) | (b[29] << 16)) + 1};
    }
    if (b.size() >= 3 && b[0] == 'P' && b[1] >= '1' && b[1] <= '7') return pnm_size(b);
    if (starts_with(b, "II", 2) || starts_with(b, "MM", 2)) {
        auto size = tiff_size(b);
        if (size) size->bytes_per_pixel = 8;  // 16-bit RGBA; float TIFFs are converted as they decode
        return size;
    }
    if (starts_with(b, "#?", 2)) {
        auto size = hdr_size(b);
        if (size) size->bytes_per_pixel = 12;  // three 32-bit floats
        return size;
    }
    return std::nullopt;
}

}  // namespace vitc
