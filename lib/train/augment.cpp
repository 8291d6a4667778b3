#include "train/augment.hpp"

#include <algorithm>
#include <cmath>
#include <random>
#include <sstream>

#include "errors.hpp"

namespace vitc::train {

std::string Augmentation::describe() const {
    std::string s;
    auto add = [&](const std::string& part) { s += (s.empty() ? "" : ",") + part; };
    if (crop_padding) add("crop=" + std::to_string(crop_padding));
    if (flip) add("flip");
    if (erase_probability > 0) {
        std::ostringstream p;
        p << erase_probability;
        add("erase=" + p.str());
    }
    return s.empty() ? "none" : s;
}

Augmentation parse_augmentation(const std::string& list) {
    Augmentation a;
    if (list.empty() || list == "none") return a;
    std::stringstream items(list);
    for (std::string item; std::getline(items, item, ',');) {
        const size_t eq = item.find('=');
        const std::string name = item.substr(0, eq), value = eq == std::string::npos ? "" : item.substr(eq + 1);
        try {
            if (name == "crop") {
                a.crop_padding = value.empty() ? 4 : std::stoi(value);
                if (a.crop_padding < 1 || a.crop_padding > 64) throw Error("");
            } else if (name == "flip" && value.empty()) {
                a.flip = true;
            } else if (name == "erase") {
                a.erase_probability = value.empty() ? 0.25f : std::stof(value);
                if (!(a.erase_probability > 0 && a.erase_probability <= 1)) throw Error("");
            } else {
                throw Error("");
            }
        } catch (const std::exception&) {
            throw Error("--augment: '" + item + "' is not one of crop[=1..64], flip, erase[=(0,1]] (or none)");
        }
    }
    return a;
}

void augment_and_normalise(const uint8_t* image, int C, int H, int W, const Augmentation& a, uint64_t seed,
                           const std::vector<float>& mean, const std::vector<float>& stddev, float* out) {
    std::mt19937_64 rng(seed);
    const int P = a.crop_padding;
    const int dy = P ? static_cast<int>(rng() % (2 * P + 1)) - P : 0;
    const int dx = P ? static_cast<int>(rng() % (2 * P + 1)) - P : 0;
    const bool flip = a.flip && (rng() & 1);
    for (int c = 0; c < C; ++c) {
        const float scale = 1.0f / (255.0f * stddev[c]), shift = mean[c] / stddev[c];
        const uint8_t* plane = image + static_cast<size_t>(c) * H * W;
        float* o = out + static_cast<size_t>(c) * H * W;
        for (int y = 0; y < H; ++y) {
            const int sy = y + dy;
            for (int x = 0; x < W; ++x) {
                const int sx = (flip ? W - 1 - x : x) + dx;
                const uint8_t v = (sy >= 0 && sy < H && sx >= 0 && sx < W) ? plane[sy * W + sx] : 0;
                o[y * W + x] = v * scale - shift;
            }
        }
    }
    if (a.erase_probability > 0 && std::uniform_real_distribution<float>(0, 1)(rng) < a.erase_probability) {
        for (int attempt = 0; attempt < 10; ++attempt) {
            const float area = std::uniform_real_distribution<float>(0.02f, 0.33f)(rng) * H * W;
            const float aspect = std::exp(std::uniform_real_distribution<float>(std::log(0.3f), std::log(3.3f))(rng));
            const int h = static_cast<int>(std::lround(std::sqrt(area * aspect)));
            const int w = static_cast<int>(std::lround(std::sqrt(area / aspect)));
            if (h < 1 || w < 1 || h > H || w > W) continue;
            const int top = static_cast<int>(rng() % (H - h + 1)), left = static_cast<int>(rng() % (W - w + 1));
            for (int c = 0; c < C; ++c)
                for (int y = top; y < top + h; ++y)
                    std::fill(out + (static_cast<size_t>(c) * H + y) * W + left,
                              out + (static_cast<size_t>(c) * H + y) * W + left + w, 0.0f);
            break;
        }
    }
}

}  // namespace vitc::train
