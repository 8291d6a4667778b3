#pragma once
// Images in, predictions out: decoding and preprocessing for a model, sessions cached by batch
// size, and softmax/top-k. One Classifier per thread; the Model may be shared.
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "image/decode.hpp"
#include "image/isolated_loader.hpp"
#include "models/model.hpp"
#include "models/prediction.hpp"

namespace vitc {

class Classifier {
public:
    explicit Classifier(const Model& model, DecodeLimits limits = {});
    ~Classifier();

    const Model& model() const { return model_; }
    int input_height() const { return model_.preprocessing().output_height(); }
    int input_width() const { return model_.preprocessing().output_width(); }
    size_t input_size() const;  // floats per preprocessed image

    // Decodes and preprocesses one image into input[0 .. input_size()); throws ImageError, whatever
    // went wrong with that one image (OpenCV exceptions and failed allocations included), or
    // LoadInterrupted when the stop check says so. Adds the seconds each step took to *times.
    // With limits.worker_executable set, this runs in a child process (image/isolated_loader.hpp).
    struct LoadTimes {
        double decode_seconds = 0, preprocess_seconds = 0;
    };
    // *conversions gets what the preprocessing changed (InputConversion bits, image/preprocess.hpp);
    // with limits.strict_input such an image is refused instead.
    void load_image(const std::string& path, float* input, LoadTimes* times = nullptr,
                    uint32_t* conversions = nullptr) const;

    // Runs `count` preprocessed images stored one after another in `inputs`.
    std::vector<Prediction> run(const float* inputs, int count);

    std::vector<Prediction> classify_files(const std::vector<std::string>& paths);

    // Asked while an isolated load waits for its child: yes ends the load with LoadInterrupted.
    void set_stop_check(std::function<bool()> should_stop) { should_stop_ = std::move(should_stop); }

private:
    void load_in_process(const std::string& path, float* input, LoadTimes* times, uint32_t* conversions) const;

    const Model& model_;
    DecodeLimits limits_;
    std::function<bool()> should_stop_;
    mutable std::mutex loader_mutex_;
    std::unique_ptr<IsolatedImageLoader> loader_;  // when limits_.worker_executable is set
    std::map<int, std::unique_ptr<Session>> sessions_;  // by batch size
};

}  // namespace vitc
