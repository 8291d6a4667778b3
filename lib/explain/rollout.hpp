#pragma once
// Attention rollout (Abnar & Zuidema, 2020, "Quantifying Attention Flow in Transformers"): how
// much each input token reaches each output token through all layers, counting the residual
// connection as attention to oneself:
//
//   A_l = mean over heads of layer l's attention          [T, T], rows sum to 1
//   Â_l = rows of (A_l + I) renormalised to sum 1         (= (A_l + I) / 2)
//   R   = Â_L ... Â_2 Â_1                                 (the last layer on the left)
//
// The classifier reads the class token, so R's class-token row over the patch columns is the
// map; a mean-pooling model reads the average of the patch tokens, so the mean of R's patch rows.
#include <cstdint>
#include <vector>

namespace vitc {

// attention[l]: layer l's probabilities for one image, [heads, tokens, tokens]. Returns R [T, T].
std::vector<float> attention_rollout(const std::vector<std::vector<float>>& attention, int64_t heads, int64_t tokens);

// The mean over heads of one layer's attention [heads, T, T] -> [T, T].
std::vector<float> head_average(const std::vector<float>& attention, int64_t heads, int64_t tokens);

// What the pooled representation draws from each patch, from a [T, T] matrix whose first
// `prefix` tokens are not patches (1 with a class token: row 0; 0: the mean of all rows).
// Returns [T - prefix], one value per patch in raster order.
std::vector<float> patch_relevance(const std::vector<float>& matrix, int64_t tokens, int64_t prefix);

}  // namespace vitc
