// The attention-distance plot, drawn with OpenCV like explain's other pictures: axes, one dot per
// head per block, the CNN's receptive field per layer as a line, a legend and a caption.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <opencv2/imgproc.hpp>

#include "explain/attention_distance.hpp"

namespace vitc {

namespace {

const cv::Scalar kWhite(255, 255, 255), kInk(30, 30, 30), kGrid(225, 225, 225);
const cv::Scalar kHead(200, 110, 30), kHeadMean(140, 70, 10);  // blue (BGR)
const cv::Scalar kField(40, 40, 210), kUniform(80, 150, 240);    // red, orange
const cv::Scalar kGlobal(150, 150, 150);
constexpr int kFont = cv::FONT_HERSHEY_SIMPLEX;
constexpr double kFontScale = 0.45;
constexpr int kWidth = 900, kLeft = 70, kRight = 250, kTop = 50, kPlotHeight = 420, kBottom = 66;

std::string number(double v, int decimals = 1) {
    char text[32];
    std::snprintf(text, sizeof text, "%.*f", decimals, v);
    return text;
}

void text(cv::Mat& image, const std::string& s, cv::Point at, const cv::Scalar& colour = kInk, double scale = kFontScale) {
    cv::putText(image, s, at, kFont, scale, colour, 1, cv::LINE_AA);
}

int text_width(const std::string& s) {
    int baseline = 0;
    return cv::getTextSize(s, kFont, kFontScale, 1, &baseline).width;
}

void dashed_line(cv::Mat& image, cv::Point2d a, cv::Point2d b, const cv::Scalar& colour, int thickness = 2) {
    const double length = std::hypot(b.x - a.x, b.y - a.y), dash = 8;
    for (double t = 0; t < length; t += 2 * dash) {
        const double u = t / length, v = std::min(t + dash, length) / length;
        cv::line(image, a + (b - a) * u, a + (b - a) * v, colour, thickness, cv::LINE_AA);
    }
}

// A step of 1, 2 or 5 times a power of ten that gives about six ticks up to `top`.
double tick_step(double top) {
    const double raw = top / 6, power = std::pow(10.0, std::floor(std::log10(raw)));
    for (double m : {1.0, 2.0, 5.0})
        if (m * power >= raw) return m * power;
    return 10 * power;
}

}  // namespace

cv::Mat attention_distance_plot(const AttentionDistanceReport& r) {
    const int blocks = static_cast<int>(r.distance.size());
    const int heads = blocks ? static_cast<int>(r.distance.front().size()) : 0;
    const int cnn_layers = static_cast<int>(r.cnn_fields.size());
    const int depth = std::max({1, blocks, cnn_layers});
    double top = r.uniform_distance;
    for (const auto& row : r.distance)
        for (double d : row) top = std::max(top, d);
    // A receptive field grows far past the image (ResNet-50: 427 pixels); the axis stops at twice
    // the image's side, so that the heads stay readable, and says so when a field goes beyond.
    const double limit = 2.0 * std::max(r.image_height, r.image_width);
    int64_t widest = 0;
    for (const ReceptiveField& f : r.cnn_fields) widest = std::max(widest, f.size);
    top = std::max(top, std::min(static_cast<double>(widest), limit));
    const double step = tick_step(top * 1.05);
    top = std::ceil(top * 1.05 / step) * step;

    const int caption_lines = 3;
    cv::Mat image(kTop + kPlotHeight + kBottom + caption_lines * 18 + 8, kWidth, CV_8UC3, kWhite);
    const int plot_width = kWidth - kLeft - kRight;
    const auto x_of = [&](double depth_index) {  // depth 1..depth, half a step of margin either side
        return kLeft + (depth_index - 0.5) / depth * plot_width;
    };
    const auto y_of = [&](double pixels) { return kTop + kPlotHeight - pixels / top * kPlotHeight; };

    text(image, "Mean attention distance by depth (ViT heads) against the CNN's receptive field", {kLeft, 24}, kInk, 0.55);
    // Axes, grid and ticks.
    for (double v = 0; v <= top + 1e-9; v += step) {
        const int y = static_cast<int>(std::lround(y_of(v)));
        cv::line(image, {kLeft, y}, {kLeft + plot_width, y}, kGrid, 1);
        const std::string label = number(v, step < 1 ? 1 : 0);
        text(image, label, {kLeft - 8 - text_width(label), y + 5});
    }
    const int every = std::max(1, static_cast<int>(std::ceil(30.0 * depth / plot_width)));  // labels 30 px apart
    for (int d = 1; d <= depth; ++d) {
        const int x = static_cast<int>(std::lround(x_of(d)));
        cv::line(image, {x, kTop + kPlotHeight}, {x, kTop + kPlotHeight + 5}, kInk, 1);
        const std::string label = std::to_string(d);
        if (d % every == 0 || d == 1) text(image, label, {x - text_width(label) / 2, kTop + kPlotHeight + 20});
    }
    for (int i = 0; i < cnn_layers; ++i)  // the CNN's stages, under the depth where each ends
        if (r.cnn_fields[i].stage_end) {
            const std::string& stage = r.cnn_fields[i].stage;
            text(image, stage, {static_cast<int>(std::lround(x_of(i + 1))) - text_width(stage) / 2, kTop + kPlotHeight + 36},
                 kField);
        }
    cv::rectangle(image, {kLeft, kTop}, {kLeft + plot_width, kTop + kPlotHeight}, kInk, 1);
    const std::string x_label = "depth: ViT block / CNN layer (each one step of spatial mixing; CNN stages end where named)";
    text(image, x_label, {kLeft + (plot_width - text_width(x_label)) / 2, kTop + kPlotHeight + 56});
    {  // the y label, written sideways
        const std::string y_label = "input pixels";
        cv::Mat sideways(22, text_width(y_label) + 4, CV_8UC3, kWhite);
        text(sideways, y_label, {2, 16});
        cv::rotate(sideways, sideways, cv::ROTATE_90_COUNTERCLOCKWISE);
        const int y = kTop + (kPlotHeight - sideways.rows) / 2;
        sideways.copyTo(image(cv::Rect(8, y, sideways.cols, sideways.rows)));
    }

    // The data, drawn in the plot's own rectangle: whatever lies beyond the axis is cut off there.
    cv::Mat plot = image(cv::Rect(kLeft, kTop, plot_width + 1, kPlotHeight + 1));
    const auto px = [&](double depth_index) { return x_of(depth_index) - kLeft; };
    const auto py = [&](double pixels) { return y_of(pixels) - kTop; };
    // A fully global head: every patch attended alike.
    dashed_line(plot, {px(0.5), py(r.uniform_distance)}, {px(depth + 0.5), py(r.uniform_distance)}, kGlobal, 1);
    // The CNN: receptive field, and attention spread uniformly over it.
    for (int i = 0; i < cnn_layers; ++i) {
        const cv::Point2d p(px(i + 1), py(static_cast<double>(r.cnn_fields[i].size)));
        const cv::Point2d u(px(i + 1), py(r.cnn_uniform_distance.at(i)));
        if (i > 0) {
            cv::line(plot, cv::Point2d(px(i), py(static_cast<double>(r.cnn_fields[i - 1].size))), p, kField, 2,
                     cv::LINE_AA);
            dashed_line(plot, {px(i), py(r.cnn_uniform_distance[i - 1])}, u, kUniform);
        }
        cv::rectangle(plot, p - cv::Point2d(4, 4), p + cv::Point2d(4, 4), kField, cv::FILLED);
        cv::circle(plot, u, 3, kUniform, cv::FILLED, cv::LINE_AA);
    }
    // The ViT: one dot per head (spread a little sideways so that equal values stay visible), the
    // mean over heads as a line.
    for (int b = 0; b < blocks; ++b) {
        double mean = 0;
        for (int h = 0; h < heads; ++h) {
            const double offset = heads > 1 ? (h - (heads - 1) / 2.0) / (heads - 1) * 0.25 : 0.0;
            cv::circle(plot, cv::Point2d(px(b + 1 + offset), py(r.distance[b][h])), 5, kHead, cv::FILLED, cv::LINE_AA);
            mean += r.distance[b][h] / heads;
        }
        if (b > 0) {
            double previous = 0;
            for (double d : r.distance[b - 1]) previous += d / heads;
            cv::line(plot, cv::Point2d(px(b), py(previous)), cv::Point2d(px(b + 1), py(mean)), kHeadMean, 1,
                     cv::LINE_AA);
        }
    }

    if (widest > top) {
        const std::string note = "CNN receptive field off the axis: up to " + std::to_string(widest) + " px";
        text(image, note, {kLeft + plot_width - text_width(note), kTop - 8}, kField);
    }

    // Legend, right of the plot.
    int y = kTop + 10;
    const int x = kLeft + plot_width + 16;
    const auto entry = [&](const std::string& label, auto mark) {
        mark(cv::Point(x + 12, y));
        text(image, label, {x + 30, y + 5});
        y += 24;
    };
    entry("ViT head (" + std::to_string(heads) + " per block)",
          [&](cv::Point p) { cv::circle(image, p, 5, kHead, cv::FILLED, cv::LINE_AA); });
    entry("mean over heads", [&](cv::Point p) { cv::line(image, p - cv::Point(10, 0), p + cv::Point(10, 0), kHeadMean, 1); });
    entry("uniform over all patches", [&](cv::Point p) {
        dashed_line(image, p - cv::Point(10, 0), p + cv::Point(10, 0), kGlobal, 1);
    });
    if (cnn_layers) {
        entry("CNN receptive field", [&](cv::Point p) {
            cv::line(image, p - cv::Point(10, 0), p + cv::Point(10, 0), kField, 2);
            cv::rectangle(image, p - cv::Point(4, 4), p + cv::Point(4, 4), kField, cv::FILLED);
        });
        entry("uniform over that field", [&](cv::Point p) {
            dashed_line(image, p - cv::Point(10, 0), p + cv::Point(10, 0), kUniform);
            cv::circle(image, p, 3, kUniform, cv::FILLED, cv::LINE_AA);
        });
        text(image, "(same quantity as the heads:", {x + 4, y + 2}, kInk, 0.4);
        text(image, " a conv as restricted attention)", {x + 4, y + 18}, kInk, 0.4);
    }

    // Caption: the conventions.
    int c = kTop + kPlotHeight + kBottom + 14;
    const auto line = [&](const std::string& s) {
        text(image, s, {10, c}, kInk, 0.42);
        c += 18;
    };
    line("Attention distance: per head, mean over query patches of sum_j A_ij * d(i,j), d = pixels between patch centres; " +
         std::to_string(r.images.size()) + (r.images.size() == 1 ? " image." : " images."));
    line(std::string(r.grid.prefix ? "Class token excluded as query and key; rows NOT renormalised (as the paper's code). "
                                   : "No class token. ") +
         "ViT: " + std::to_string(r.image_width) + "x" + std::to_string(r.image_height) + " input, patch " +
         std::to_string(r.grid.patch_size) + " (" + std::to_string(r.grid.width) + "x" + std::to_string(r.grid.height) +
         " grid).");
    line(r.cnn.empty() ? std::string("No CNN given.")
                       : "CNN receptive field: theoretical, along the longest path (r += (k-1)*jump; jump *= stride).");
    return image;
}

}  // namespace vitc
