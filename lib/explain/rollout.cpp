#include "explain/rollout.hpp"

#include "errors.hpp"

namespace vitc {

std::vector<float> head_average(const std::vector<float>& attention, int64_t heads, int64_t tokens) {
    const int64_t cells = tokens * tokens;
    if (static_cast<int64_t>(attention.size()) != heads * cells)
        throw Error("attention has " + std::to_string(attention.size()) + " values, expected " +
                    std::to_string(heads) + " x " + std::to_string(tokens) + " x " + std::to_string(tokens));
    std::vector<float> mean(cells, 0.0f);
    for (int64_t h = 0; h < heads; ++h)
        for (int64_t i = 0; i < cells; ++i) mean[i] += attention[h * cells + i];
    for (float& v : mean) v /= static_cast<float>(heads);
    return mean;
}

std::vector<float> attention_rollout(const std::vector<std::vector<float>>& attention, int64_t heads, int64_t tokens) {
    const int64_t T = tokens;
    std::vector<double> rollout(T * T, 0.0), next(T * T);
    for (int64_t i = 0; i < T; ++i) rollout[i * T + i] = 1.0;
    std::vector<double> mixed(T * T);
    for (const std::vector<float>& layer : attention) {
        const std::vector<float> mean = head_average(layer, heads, tokens);
        for (int64_t i = 0; i < T; ++i) {  // Â = rownorm(A + I)
            double sum = 0;
            for (int64_t j = 0; j < T; ++j) sum += mixed[i * T + j] = mean[i * T + j] + (i == j ? 1.0 : 0.0);
            for (int64_t j = 0; j < T; ++j) mixed[i * T + j] /= sum;
        }
        for (int64_t i = 0; i < T; ++i)  // R <- Â R
            for (int64_t j = 0; j < T; ++j) {
                double v = 0;
                for (int64_t k = 0; k < T; ++k) v += mixed[i * T + k] * rollout[k * T + j];
                next[i * T + j] = v;
            }
        rollout.swap(next);
    }
    return std::vector<float>(rollout.begin(), rollout.end());
}

std::vector<float> patch_relevance(const std::vector<float>& matrix, int64_t tokens, int64_t prefix,
                                   bool mean_of_patches) {
    const int64_t T = tokens, patches = T - prefix;
    if (!mean_of_patches && prefix == 0) throw Error("class-token pooling, but the model has no class token");
    std::vector<float> out(patches, 0.0f);
    if (!mean_of_patches) {
        for (int64_t p = 0; p < patches; ++p) out[p] = matrix[prefix + p];  // row 0, patch columns
        return out;
    }
    for (int64_t i = prefix; i < T; ++i)  // the patch rows, averaged
        for (int64_t p = 0; p < patches; ++p) out[p] += matrix[i * T + prefix + p] / static_cast<float>(patches);
    return out;
}

}  // namespace vitc
