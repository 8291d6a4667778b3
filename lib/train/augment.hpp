#pragma once
// Training-time augmentation on the uint8 cache, image by image, before normalisation:
//   crop=P   random crop with padding: the image padded with P black pixels per side, an H x W
//            window at a random offset in [0, 2P] (Krizhevsky et al. 2012; CIFAR-style)
//   flip     horizontal flip with probability 1/2 (fits clothes and objects, not text or digits)
//   erase=p  random erasing (Zhong et al. 2020) with probability p: a rectangle of 2% to 33% of
//            the image, aspect 0.3 to 3.3, set to 0 after normalisation (the channel mean)
// Each image gets its own generator seeded from (seed, step, index), so a resumed run augments
// exactly as an uninterrupted one, whichever thread prepares the batch.
#include <cstdint>
#include <string>
#include <vector>

namespace vitc::train {

struct Augmentation {
    int crop_padding = 0;
    bool flip = false;
    float erase_probability = 0.0f;

    bool any() const { return crop_padding > 0 || flip || erase_probability > 0.0f; }
    std::string describe() const;  // "crop=2,flip" or "none"
};

// "none", or a comma-separated list of crop[=P] (P = 4 unless given), flip, erase[=p] (p = 0.25).
Augmentation parse_augmentation(const std::string& list);

// out [C, H, W] = (augmented pixels / 255 - mean[c]) / std[c]; `seed` picks this image's draw.
void augment_and_normalise(const uint8_t* image, int C, int H, int W, const Augmentation& a, uint64_t seed,
                           const std::vector<float>& mean, const std::vector<float>& stddev, float* out);

}  // namespace vitc::train
