#pragma once
// What every image classifier offers the tasks: its labels, its preprocessing, a summary, and
// sessions. A Model is immutable after loading and shared by threads; a Session owns the
// primitives and activation buffers for one batch size and input size, and is used by one
// thread at a time.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "io/model_config.hpp"
#include "runtime/precision.hpp"

namespace vitc {

struct ModelSummary {
    std::string family;        // "vit"
    std::string architecture;  // e.g. "ViT depth 6, hidden 128, 4 heads, MLP 256, patch 4, 28x28x1"
    std::string weight_scheme; // "huggingface", "timm", "torchvision"
    std::string precision;     // "f32", "bf16", "int8": as loaded
    int64_t parameters = 0;
    int64_t flops_per_image = 0;  // multiply-adds x 2 at the model's own input size
};

class Session {
public:
    virtual ~Session() = default;
    // images: [batch, C, H, W] preprocessed; logits: [batch, classes].
    virtual void run(const float* images, float* logits) = 0;
    // Bytes of the activation buffers and scratchpad this session allocated (not the weights).
    virtual int64_t buffer_bytes() const = 0;
};

class Model {
public:
    virtual ~Model() = default;
    virtual const std::vector<std::string>& labels() const = 0;
    // Replaces the labels (--labels FILE), as many as before; before the model is shared.
    virtual void set_labels(std::vector<std::string> labels) = 0;
    virtual const Preprocessing& preprocessing() const = 0;
    virtual int num_channels() const = 0;
    virtual ModelSummary summary() const = 0;
    virtual std::unique_ptr<Session> create_session(int batch, int height, int width) const = 0;
};

// Loads a model directory (config.json + model.safetensors [+ preprocessor_config.json]).
// Throws ModelError naming the file and the reason.
std::unique_ptr<Model> load_model(const std::string& directory, Precision precision = Precision::F32);

}  // namespace vitc
