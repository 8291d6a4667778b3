#include "image/shifted_patches.hpp"

#include <algorithm>
#include <cstring>

#include "image/patchify.hpp"

namespace vitc {

int64_t patch_vector_size(int channels, int patch, bool shifted) {
    return static_cast<int64_t>(shifted ? kShiftedCopies : 1) * channels * patch * patch;
}

void stack_shifted_copies(const float* image, int channels, int height, int width, int shift, float* out) {
    const size_t plane = static_cast<size_t>(height) * width;
    std::memcpy(out, image, channels * plane * sizeof(float));
    const int offsets[4][2] = {{-shift, -shift}, {-shift, shift}, {shift, -shift}, {shift, shift}};
    for (int k = 0; k < 4; ++k) {
        const int dy = offsets[k][0], dx = offsets[k][1];
        // Columns x with 0 <= x + dx < width.
        const int x0 = std::max(0, -dx), x1 = std::min(width, width - dx);
        for (int c = 0; c < channels; ++c) {
            const float* from = image + c * plane;
            float* to = out + ((k + 1) * static_cast<size_t>(channels) + c) * plane;
            std::fill(to, to + plane, 0.0f);
            for (int y = 0; y < height; ++y) {
                const int source_y = y + dy;
                if (source_y < 0 || source_y >= height || x0 >= x1) continue;
                std::memcpy(to + static_cast<size_t>(y) * width + x0, from + static_cast<size_t>(source_y) * width + x0 + dx,
                            (x1 - x0) * sizeof(float));
            }
        }
    }
}

void patch_vectors(const float* image, int channels, int height, int width, int patch, bool shifted,
                   std::vector<float>& scratch, float* patches) {
    if (!shifted) return patchify(image, channels, height, width, patch, patches);
    scratch.resize(static_cast<size_t>(kShiftedCopies) * channels * height * width);
    stack_shifted_copies(image, channels, height, width, patch / 2, scratch.data());
    patchify(scratch.data(), kShiftedCopies * channels, height, width, patch, patches);
}

}  // namespace vitc
