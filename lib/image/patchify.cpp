#include "image/patchify.hpp"

#include <cstring>

namespace vitc {

void patchify(const float* image, int channels, int height, int width, int patch, float* patches) {
    const int grid_w = width / patch, grid_h = height / patch;
    const size_t patch_len = static_cast<size_t>(channels) * patch * patch;
    for (int gy = 0; gy < grid_h; ++gy)
        for (int gx = 0; gx < grid_w; ++gx) {
            float* token = patches + (static_cast<size_t>(gy) * grid_w + gx) * patch_len;
            for (int c = 0; c < channels; ++c)
                for (int py = 0; py < patch; ++py) {
                    const float* row = image + (static_cast<size_t>(c) * height + gy * patch + py) * width + gx * patch;
                    std::memcpy(token + (static_cast<size_t>(c) * patch + py) * patch, row, patch * sizeof(float));
                }
        }
}

}  // namespace vitc
