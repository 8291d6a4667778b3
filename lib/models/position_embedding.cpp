#include "models/position_embedding.hpp"

#include <algorithm>
#include <cmath>

namespace vitc {

namespace {

// Cubic convolution weights for the four taps around a source point with fraction t.
void cubic_weights(double t, double w[4]) {
    constexpr double A = -0.75;
    auto near = [](double x) { return ((A + 2) * x - (A + 3)) * x * x + 1; };        // |x| <= 1
    auto far = [](double x) { return ((A * x - 5 * A) * x + 8 * A) * x - 4 * A; };   // 1 < |x| < 2
    w[0] = far(t + 1);
    w[1] = near(t);
    w[2] = near(1 - t);
    w[3] = far(2 - t);
}

struct Taps {
    int index[4];
    double weight[4];
};

std::vector<Taps> taps_for(int in, int out) {
    std::vector<Taps> taps(out);
    const double scale = static_cast<double>(in) / out;
    for (int d = 0; d < out; ++d) {
        const double source = (d + 0.5) * scale - 0.5;
        const double floor = std::floor(source);
        cubic_weights(source - floor, taps[d].weight);
        for (int k = 0; k < 4; ++k)
            taps[d].index[k] = std::clamp(static_cast<int>(floor) - 1 + k, 0, in - 1);
    }
    return taps;
}

}  // namespace

std::vector<float> resize_position_grid(const std::vector<float>& grid, int in_h, int in_w, int out_h,
                                        int out_w, int dim) {
    const std::vector<Taps> rows = taps_for(in_h, out_h), cols = taps_for(in_w, out_w);
    std::vector<float> out(static_cast<size_t>(out_h) * out_w * dim);
    for (int y = 0; y < out_h; ++y)
        for (int x = 0; x < out_w; ++x)
            for (int c = 0; c < dim; ++c) {
                double sum = 0;
                for (int i = 0; i < 4; ++i)
                    for (int j = 0; j < 4; ++j)
                        sum += rows[y].weight[i] * cols[x].weight[j] *
                               grid[(static_cast<size_t>(rows[y].index[i]) * in_w + cols[x].index[j]) * dim + c];
                out[(static_cast<size_t>(y) * out_w + x) * dim + c] = static_cast<float>(sum);
            }
    return out;
}

std::vector<float> sincos_2d_position_grid(int h, int w, int dim) {
    const int q = dim / 4;
    std::vector<double> omega(q);
    for (int k = 0; k < q; ++k) omega[k] = 1.0 / std::pow(10000.0, q > 1 ? static_cast<double>(k) / (q - 1) : 0.0);
    std::vector<float> out(static_cast<size_t>(h) * w * dim, 0.0f);
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x) {
            float* pe = &out[(static_cast<size_t>(y) * w + x) * dim];
            for (int k = 0; k < q; ++k) {
                pe[k] = static_cast<float>(std::sin(x * omega[k]));
                pe[q + k] = static_cast<float>(std::cos(x * omega[k]));
                pe[2 * q + k] = static_cast<float>(std::sin(y * omega[k]));
                pe[3 * q + k] = static_cast<float>(std::cos(y * omega[k]));
            }
        }
    return out;
}

}  // namespace vitc
