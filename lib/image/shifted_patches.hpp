#pragma once
// Shifted patch tokenisation (SPT; Lee, Lee and Song 2021, "Vision Transformer for Small-Size
// Datasets"): a token sees its own patch and the same patch of four copies of the image shifted
// by half a patch along the diagonals, so neighbouring pixels across the patch border reach one
// token, the locality a convolution's overlapping windows have and plain patches lack. vitc's
// ViT then normalises each token's vector (LayerNorm) before the patch embedding's Linear layer.
#include <cstdint>
#include <vector>

namespace vitc {

// The image and its four shifted copies.
constexpr int kShiftedCopies = 5;

// Values per token: C*P*P, or 5*C*P*P with shifted patches.
int64_t patch_vector_size(int channels, int patch, bool shifted);

// out [5C, H, W]: channels 0..C-1 are the image; copy k = 1..4 holds channels k*C..k*C+C-1 with
// out(y, x) = image(y + dy, x + dx), (dy, dx) = (-s, -s), (-s, +s), (+s, -s), (+s, +s) in that
// order, and 0 where that falls outside the image. s = shift.
void stack_shifted_copies(const float* image, int channels, int height, int width, int shift, float* out);

// The token vectors of one image [C, H, W]: patchify() of the image, or with `shifted` of its
// stack of shifted copies (shift P/2), [(H/P)*(W/P), patch_vector_size()]. `scratch` is resized
// and reused for the stack.
void patch_vectors(const float* image, int channels, int height, int width, int patch, bool shifted,
                   std::vector<float>& scratch, float* patches);

}  // namespace vitc
