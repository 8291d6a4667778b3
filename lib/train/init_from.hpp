#pragma once
// `vitc train --init-from MODEL_DIR`: fine-tuning a model directory vitc loads. A ViT (Hugging
// Face, timm or torchvision names) or a ResNet (vitc's, timm's, Hugging Face's or torchvision's
// config and names) becomes the architecture at the model's input size and parameter (and
// BatchNorm state) buffers in the training layouts (vit_parameter_layout: timm names;
// resnet_parameter_layout: torchvision names). Learned ViT positions are resized to that size as
// inference resizes them. The data is decoded at that size and channels and normalised with the
// model's own mean and std, which the written model keeps.
//
// The head: when the data's classes are the model's labels (matched as `vitc batch` matches
// folder names: case, spaces, '-', '_', '/' aside) it is kept, its rows in the data's class order;
// otherwise a new head for the data's classes, initialised as the architecture initialises it
// (the ViT: timm's N(0, 0.02) truncated at 2 sigma, biases 0; the ResNet: torchvision's nn.Linear
// default), drawn from the run's seed.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "train/resnet_train.hpp"
#include "train/train_model.hpp"
#include "train/train_models.hpp"
#include "train/vit_train.hpp"

namespace vitc::train {

struct PretrainedModel {
    std::string directory;
    std::string family;          // "vit" or "resnet"
    ViTArchitecture vit;         // family "vit": at the model's input size, with its labels
    ResNetArchitecture resnet;   // family "resnet": likewise
    std::vector<std::string> labels;
    // Laid out by the family's parameter and state layouts for the model's own labels.
    std::vector<float> parameters, state;
    // The model's normalisation as (pixel / 255 - mean) / std, whatever its rescale factor was.
    std::vector<float> mean, std;
    std::string fingerprint;  // a hash of the weights and normalisation: --resume checks it

    ArchitectureInput input() const;
};

// Reads a model directory (everything vitc's loader checks). Throws Error naming the directory
// for a model training cannot start from.
PretrainedModel read_pretrained(const std::string& directory);

// A TrainModel for the data's `classes` whose initialise() gives the pretrained weights (with the
// new head drawn from initialise()'s seed when the classes are not the model's). `note`: one
// line saying which head it is.
std::unique_ptr<TrainModel> pretrained_train_model(const PretrainedModel& pretrained,
                                                   const std::vector<std::string>& classes, std::string& note);

}  // namespace vitc::train
