#pragma once
// Positional embeddings for a grid of patches: learned tables resized to another grid, and the
// fixed 2-D sine-cosine embedding.
#include <vector>

namespace vitc {

// Resizes a [in_h * in_w, dim] grid of embeddings to [out_h * out_w, dim] with bicubic
// interpolation exactly as torch.nn.functional.interpolate(mode="bicubic", align_corners=False)
// does (cubic convolution A = -0.75, taps clamped at the border); timm and Hugging Face resize
// learned embeddings this way when the input grid differs from the trained one.
std::vector<float> resize_position_grid(const std::vector<float>& grid, int in_h, int in_w, int out_h,
                                        int out_w, int dim);

// The fixed embedding of "Simple ViT" (Beyer et al., 2022) for an h x w grid, [h * w, dim]:
//   q = dim/4, omega_k = 10000^(-k/(q-1)),
//   pe(y, x) = [sin(x omega), cos(x omega), sin(y omega), cos(y omega)].
std::vector<float> sincos_2d_position_grid(int h, int w, int dim);

}  // namespace vitc
