#include "tasks/classifier.hpp"

#include <chrono>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "errors.hpp"
#include "image/preprocess.hpp"

namespace vitc {

Classifier::Classifier(const Model& model, DecodeLimits limits) : model_(model), limits_(limits) {
    if (!limits_.worker_executable.empty())
        loader_ = std::make_unique<IsolatedImageLoader>(limits_, model_.preprocessing(), model_.num_channels());
}

Classifier::~Classifier() = default;

size_t Classifier::input_size() const {
    return static_cast<size_t>(model_.num_channels()) * input_height() * input_width();
}

void Classifier::load_image(const std::string& path, float* input, LoadTimes* times, uint32_t* conversions) const {
    uint32_t converted = 0;
    if (loader_) {
        std::lock_guard<std::mutex> lock(loader_mutex_);
        loader_->load(path, input, input_size(), times ? &times->decode_seconds : nullptr,
                      times ? &times->preprocess_seconds : nullptr, &converted, should_stop_);
    } else {
        load_in_process(path, input, times, &converted);
    }
    if (limits_.strict_input && converted) {
        std::string what;
        for (const std::string& name : conversion_names(converted)) what += (what.empty() ? "" : ", ") + name;
        throw ImageError(path, "not what the model takes as it is (" + what + "); --strict-input refuses it");
    }
    if (conversions) *conversions = converted;
}

void Classifier::load_in_process(const std::string& path, float* input, LoadTimes* times, uint32_t* conversions) const {
    using Clock = std::chrono::steady_clock;
    const auto start = Clock::now();
    // Whatever fails for this image is this image's error: an OpenCV exception or a failed
    // allocation in resize or colour conversion included.
    try {
        const cv::Mat image = decode_image(path, limits_);
        const auto decoded = Clock::now();
        preprocess_image(image, model_.preprocessing(), model_.num_channels(), input, limits_.max_pixels);
        *conversions = input_conversions(image, model_.preprocessing(), model_.num_channels());
        if (times) {
            times->decode_seconds += std::chrono::duration<double>(decoded - start).count();
            times->preprocess_seconds += std::chrono::duration<double>(Clock::now() - decoded).count();
        }
    } catch (const ImageError&) {
        throw;
    } catch (const Error& e) {
        throw ImageError(path, e.what());
    } catch (const cv::Exception& e) {
        throw ImageError(path, "OpenCV: " + e.err);
    } catch (const std::bad_alloc&) {
        throw ImageError(path, "out of memory while decoding or preprocessing");
    }
}

std::vector<Prediction> Classifier::run(const float* inputs, int count) {
    auto& session = sessions_[count];
    if (!session) session = model_.create_session(count, input_height(), input_width());
    const size_t classes = model_.labels().size();
    std::vector<float> logits(classes * count);
    session->run(inputs, logits.data());
    std::vector<Prediction> out(count);
    for (int i = 0; i < count; ++i) {
        out[i].logits.assign(logits.begin() + i * classes, logits.begin() + (i + 1) * classes);
        out[i].probabilities = softmax(out[i].logits);
    }
    return out;
}

std::vector<Prediction> Classifier::classify_files(const std::vector<std::string>& paths) {
    std::vector<float> inputs(input_size() * paths.size());
    for (size_t i = 0; i < paths.size(); ++i) load_image(paths[i], inputs.data() + i * input_size());
    return run(inputs.data(), static_cast<int>(paths.size()));
}

}  // namespace vitc
