#include "image/preprocess.hpp"

#include <cmath>
#include <limits>
#include <opencv2/imgproc.hpp>

#include "errors.hpp"

namespace vitc {

namespace {

cv::Mat to_channels(const cv::Mat& image, int channels) {
    static const int to_gray[] = {0, -1, -1, cv::COLOR_BGR2GRAY, cv::COLOR_BGRA2GRAY};
    static const int to_rgb[] = {0, cv::COLOR_GRAY2RGB, -1, cv::COLOR_BGR2RGB, cv::COLOR_BGRA2RGB};
    cv::Mat out;
    if (channels == 1) {
        if (image.channels() == 1) return image;
        cv::cvtColor(image, out, to_gray[image.channels()]);
    } else if (channels == 3) {
        cv::cvtColor(image, out, to_rgb[image.channels()]);
    } else {
        throw Error("models with " + std::to_string(channels) + " input channels are not supported (1 or 3)");
    }
    return out;
}

int interpolation_flag(Interpolation interpolation, bool shrinking) {
    if (interpolation == Interpolation::Nearest) return cv::INTER_NEAREST;
    // Shrinking with a plain bilinear/bicubic kernel aliases; area averaging is OpenCV's
    // antialiased downscale (PIL antialiases too).
    if (shrinking) return cv::INTER_AREA;
    return interpolation == Interpolation::Bicubic ? cv::INTER_CUBIC : cv::INTER_LINEAR;
}

cv::Mat resize_to(const cv::Mat& image, int width, int height, Interpolation interpolation) {
    if (image.cols == width && image.rows == height) return image;
    cv::Mat out;
    const bool shrinking = width < image.cols || height < image.rows;
    cv::resize(image, out, cv::Size(width, height), 0, 0, interpolation_flag(interpolation, shrinking));
    return out;
}

}  // namespace

cv::Size resized_size(const cv::Size& decoded, const Preprocessing& p) {
    if (p.resize == Preprocessing::Resize::Exact) return {p.resize_width, p.resize_height};
    // The shorter side becomes shortest_edge, the aspect ratio is kept. In double: a 1 x 1,000,000
    // image would ask for 28 x 28,000,000, past int.
    const double scale = static_cast<double>(p.shortest_edge) / std::min(decoded.width, decoded.height);
    const double w = std::max(1.0, std::round(decoded.width * scale)), h = std::max(1.0, std::round(decoded.height * scale));
    const double limit = std::numeric_limits<int>::max();
    return {decoded.width <= decoded.height ? p.shortest_edge : static_cast<int>(std::min(w, limit)),
            decoded.height <= decoded.width ? p.shortest_edge : static_cast<int>(std::min(h, limit))};
}

uint32_t input_conversions(const cv::Mat& decoded, const Preprocessing& p, int channels) {
    uint32_t out = 0;
    if (decoded.channels() >= 3 && channels == 1) {
        std::vector<cv::Mat> planes;
        cv::split(decoded, planes);
        if (cv::countNonZero(planes[0] != planes[1]) || cv::countNonZero(planes[1] != planes[2])) out |= kColourToGrey;
    }
    if (decoded.channels() == 1 && channels == 3) out |= kGreyToColour;
    if (decoded.channels() == 4) {
        cv::Mat alpha;
        cv::extractChannel(decoded, alpha, 3);
        double lowest = 0, highest = 0;
        cv::minMaxLoc(alpha, &lowest, &highest);
        if (lowest < (decoded.depth() == CV_16U ? 65535.0 : 255.0)) out |= kAlphaDropped;
    }
    const cv::Size target = resized_size(decoded.size(), p);
    if (target.width > decoded.cols || target.height > decoded.rows) out |= kUpscaled;
    const double before = static_cast<double>(decoded.cols) / decoded.rows;
    const double after = static_cast<double>(target.width) / target.height;
    if (std::abs(after / before - 1.0) > 0.02) out |= kAspectChanged;
    return out;
}

std::vector<std::string> conversion_names(uint32_t conversions) {
    static const std::pair<uint32_t, const char*> names[] = {{kColourToGrey, "colour to grey"},
                                                             {kGreyToColour, "grey to colour"},
                                                             {kAlphaDropped, "alpha dropped"},
                                                             {kAspectChanged, "aspect ratio changed"},
                                                             {kUpscaled, "upscaled"}};
    std::vector<std::string> out;
    for (const auto& [bit, name] : names)
        if (conversions & bit) out.push_back(name);
    return out;
}

void preprocess_image(const cv::Mat& decoded, const Preprocessing& p, int channels, float* out, int64_t max_pixels) {
    // Every intermediate image stays within the decoder's pixel limit: a resize to 30,000 pixels
    // before a small crop, or an extreme aspect ratio under shortest_edge, is refused up front.
    const cv::Size target = resized_size(decoded.size(), p);
    if (static_cast<int64_t>(target.width) * target.height > max_pixels)
        throw Error("the model's preprocessing resizes this " + std::to_string(decoded.cols) + "x" +
                    std::to_string(decoded.rows) + " image to " + std::to_string(target.width) + "x" +
                    std::to_string(target.height) + ", over the limit of " + std::to_string(max_pixels) +
                    " pixels (--max-pixels)");
    cv::Mat image;
    to_channels(decoded, channels).convertTo(image, CV_32F, decoded.depth() == CV_16U ? 255.0 / 65535.0 : 1.0);
    image = resize_to(image, target.width, target.height, p.interpolation);
    if (p.crop_height && p.crop_width) {
        if (image.rows < p.crop_height || image.cols < p.crop_width) {  // pad like torchvision's CenterCrop
            cv::Mat padded;
            const int top = std::max(0, (p.crop_height - image.rows) / 2), left = std::max(0, (p.crop_width - image.cols) / 2);
            cv::copyMakeBorder(image, padded, top, std::max(0, p.crop_height - image.rows - top), left,
                               std::max(0, p.crop_width - image.cols - left), cv::BORDER_CONSTANT, cv::Scalar::all(0));
            image = padded;
        }
        // torchvision/HF centre crop: offset = round((size - crop) / 2)
        const int top = static_cast<int>(std::lround((image.rows - p.crop_height) / 2.0));
        const int left = static_cast<int>(std::lround((image.cols - p.crop_width) / 2.0));
        image = image(cv::Rect(left, top, p.crop_width, p.crop_height));
    }

    const float scale = p.do_rescale ? p.rescale_factor : 1.0f;
    const int h = image.rows, w = image.cols;
    for (int c = 0; c < channels; ++c) {
        const float mean = p.do_normalize ? p.mean[c] : 0.0f, std = p.do_normalize ? p.std[c] : 1.0f;
        for (int y = 0; y < h; ++y) {
            const float* row = image.ptr<float>(y);
            float* dst = out + (static_cast<size_t>(c) * h + y) * w;
            for (int x = 0; x < w; ++x) dst[x] = (row[x * channels + c] * scale - mean) / std;
        }
    }
    // The configuration is range-checked at load; this catches what slips through (an image of NaN
    // floats, say), so that no row says "ok" about an input the model cannot read.
    const size_t n = static_cast<size_t>(channels) * h * w;
    for (size_t i = 0; i < n; ++i)
        if (!std::isfinite(out[i])) throw Error("preprocessing gave a non-finite value (NaN or infinity)");
}

}  // namespace vitc
