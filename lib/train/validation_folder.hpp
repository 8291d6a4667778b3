#pragma once
// `vitc train --val DIR`: a separate labelled validation set instead of a split of the training
// data. DIR is read as the training data is (one subfolder per class, decoded at the training
// size and channels), or holds the MNIST/Fashion-MNIST test files t10k-images-idx3-ubyte[.gz]
// and t10k-labels-idx1-ubyte[.gz]. Its classes must be the training classes.
#include <string>

#include "image/decode.hpp"
#include "train/dataset.hpp"

namespace vitc::train {

// Appends DIR's images (and its skipped files) to `data`; returns the index of the first one.
// Throws Error naming DIR when its class folders are not the training classes.
size_t append_validation_folder(ImageDataset& data, const std::string& dir, const DecodeLimits& limits = {});

}  // namespace vitc::train
