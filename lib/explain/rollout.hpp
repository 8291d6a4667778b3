#pragma once
// Attention rollout (Abnar & Zuidema, 2020, "Quantifying Attention Flow in Transformers"): how
// much each input token reaches each output token through all layers, counting the residual
// connection as attention to oneself:
//
//   A_l = mean over heads of layer l's attention          [T, T], rows sum to 1
//   Â_l = rows of (A_l + I) renormalised to sum 1         (= (A_l + I) / 2)
//   R   = Â_L ... Â_2 Â_1                                 (the last layer on the left)
//
// The map is the row of R for the token the head reads, over the patch columns: the class
// token's row when the head reads the class token; the mean of the patch rows when it reads the
// mean of the patch tokens (even if the model also has a class token: its row reaches no logit).
#include <cstdint>
#include <vector>

namespace vitc {

// attention[l]: layer l's probabilities for one image, [heads, tokens, tokens]. Returns R [T, T].
std::vector<float> attention_rollout(const std::vector<std::vector<float>>& attention, int64_t heads, int64_t tokens);

// The mean over heads of one layer's attention [heads, T, T] -> [T, T].
std::vector<float> head_average(const std::vector<float>& attention, int64_t heads, int64_t tokens);

// What the pooled representation draws from each patch, from a [T, T] matrix whose first
// `prefix` tokens are not patches (0 or 1: a class token). mean_of_patches: the head reads the
// mean of the patch tokens (rows prefix..T-1 averaged); otherwise the class token (row 0; needs
// prefix 1). Returns [T - prefix], one value per patch in raster order.
std::vector<float> patch_relevance(const std::vector<float>& matrix, int64_t tokens, int64_t prefix,
                                   bool mean_of_patches);

}  // namespace vitc
