#pragma once
// Turns an image into tokens: a [C, H, W] image becomes (H/P)*(W/P) vectors of C*P*P values,
// patches in row-major grid order, each vector ordered (channel, row, column) so that it meets
// a Conv2d(C, D, P, stride P) weight flattened to [D, C*P*P]. P = 1 makes each pixel a token.
#include <cstddef>

namespace vitc {

// image: [C, H, W]; patches: [(H/P)*(W/P), C*P*P]. H and W must be multiples of P.
void patchify(const float* image, int channels, int height, int width, int patch, float* patches);

}  // namespace vitc
