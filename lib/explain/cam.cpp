#include "explain/cam.hpp"

#include <algorithm>

namespace vitc {

std::vector<float> class_activation_map(const float* features, int64_t channels, int64_t height, int64_t width,
                                        const float* class_weights) {
    const int64_t cells = height * width;
    std::vector<double> sum(cells, 0.0);
    for (int64_t f = 0; f < channels; ++f)
        for (int64_t i = 0; i < cells; ++i) sum[i] += static_cast<double>(class_weights[f]) * features[f * cells + i];
    return std::vector<float>(sum.begin(), sum.end());
}

std::vector<float> grad_cam(const std::vector<float>& activation, const std::vector<float>& gradient, int64_t channels,
                            int64_t height, int64_t width) {
    const int64_t cells = height * width;
    std::vector<float> alpha(channels);  // the gradient's spatial mean per feature
    for (int64_t f = 0; f < channels; ++f) {
        double sum = 0;
        for (int64_t i = 0; i < cells; ++i) sum += gradient[f * cells + i];
        alpha[f] = static_cast<float>(sum / static_cast<double>(cells));
    }
    std::vector<float> map = class_activation_map(activation.data(), channels, height, width, alpha.data());
    for (float& v : map) v = std::max(v, 0.0f);  // only what speaks for the class
    return map;
}

std::vector<float> min_max_normalized(const std::vector<float>& values) {
    std::vector<float> out(values.size(), 0.0f);
    if (values.empty()) return out;
    const auto [lo, hi] = std::minmax_element(values.begin(), values.end());
    const float range = *hi - *lo;
    if (!(range > 0)) return out;
    for (size_t i = 0; i < values.size(); ++i) out[i] = (values[i] - *lo) / range;
    return out;
}

}  // namespace vitc
