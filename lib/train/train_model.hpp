#pragma once
// What the trainer (train/trainer.hpp) needs from an architecture, so one training loop serves
// the ViT and the ResNet: the parameter layout, the non-trained state (BatchNorm's running
// statistics), fresh weights, a session of primitives per batch size, and the model directory
// written at the end.
//
//   parameters  one f32 buffer laid out by parameters() (the optimiser updates it)
//   gradients   one buffer of the same layout (backward writes every tensor)
//   state       one f32 buffer laid out by state(): tensors forward updates in Train mode and
//               reads in Eval mode; empty for the ViT
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "errors.hpp"
#include "runtime/precision.hpp"
#include "train/parameters.hpp"

namespace vitc::train {

// Train: BatchNorm normalises with the batch's statistics and updates the running ones, and
// forward keeps what backward needs. Eval: running statistics, nothing kept (validation).
enum class Mode { Train, Eval };

// How attention is computed: Full keeps the T x T probabilities per block (oneDNN batched
// matmuls and softmax); Tiled is runtime/tiled_attention.hpp's flash kernel, which keeps only
// the log-sum-exp per row and recomputes the probabilities in backward. Auto: Full while one
// block's probabilities fit 256 MiB, else Tiled. (ViT only.)
enum class TrainAttention { Auto, Full, Tiled };

struct SessionOptions {
    TrainAttention attention = TrainAttention::Auto;
    // F32, or BF16: matmuls and convolutions in bf16, master weights and weight gradients f32.
    Precision precision = Precision::F32;
};

// Primitives and activations for batches of exactly batch() images.
class TrainSession {
public:
    virtual ~TrainSession() = default;
    virtual int batch() const = 0;
    // images [N, C, H, W] (normalised) -> logits [N, K] (valid until the next call).
    virtual const float* forward(const float* parameters, float* state, const float* images, Mode mode) = 0;
    // dlogits [N, K] -> every gradient (written, not accumulated), for the last Train forward().
    virtual void backward(const float* parameters, float* gradients, const float* dlogits) = 0;
    // oneDNN's kernel names for every primitive (a "ref" one is a slow fallback).
    virtual std::vector<std::string> implementations() const = 0;
    // images [N, C, H, W] -> the pooled features [N, F] the head reads, in Eval mode (valid until
    // the next call); --freeze-backbone computes them once per image and trains the head alone.
    virtual const float* features(const float* /*parameters*/, float* /*state*/, const float* /*images*/) {
        throw Error("this architecture does not give its features (--freeze-backbone)");
    }
};

class TrainModel {
public:
    virtual ~TrainModel() = default;
    virtual const ParameterLayout& parameters() const = 0;
    virtual const ParameterLayout& state() const = 0;
    virtual int classes() const = 0;
    // Fresh weights (the architecture's usual initialisation) and initial state.
    virtual void initialise(float* parameters, float* state, uint64_t seed) const = 0;
    virtual std::unique_ptr<TrainSession> session(int batch, const SessionOptions& options) const = 0;
    // config.json's contents (also stored in checkpoints, so --resume checks the architecture).
    virtual nlohmann::json config() const = 0;
    // A model directory vitc loads: config.json, model.safetensors, preprocessor_config.json
    // (resize to the training size, rescale 1/255, the training mean/std per channel).
    virtual void write_model_directory(const std::string& directory, const float* parameters, const float* state,
                                       const std::vector<float>& mean, const std::vector<float>& std) const = 0;
    // The names of the classifier head's tensors in parameters(): weight [K, F] and bias [K] on the
    // features of TrainSession::features().
    struct Head {
        std::string weight, bias;
    };
    virtual Head head() const { throw Error("this architecture does not name its head (--freeze-backbone)"); }
};

}  // namespace vitc::train
