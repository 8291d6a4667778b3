#pragma once
// A training checkpoint: everything a run needs to continue exactly where it stopped.
//   "VITCKPT1" | u64 little-endian JSON length | JSON | parameters | first moment | second moment
//   | model state
// The JSON holds the architecture, the settings that must not change across --resume, the
// position (epoch, batch within the epoch, optimiser step), the RNG state at the start of the
// epoch (so the epoch's shuffle is replayed), the partial epoch's sums and the log so far. The
// arrays are f32, their lengths in the JSON. Written atomically (tasks/atomic_file.hpp).
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace vitc::train {

struct Checkpoint {
    nlohmann::json state;
    std::vector<float> parameters, first_moment, second_moment;
    std::vector<float> model_state;  // the model's non-trained tensors (BatchNorm running statistics)
};

void write_checkpoint(const std::string& path, const Checkpoint& checkpoint);
// Throws Error naming the file when it is not a checkpoint or is truncated.
Checkpoint read_checkpoint(const std::string& path);

}  // namespace vitc::train
