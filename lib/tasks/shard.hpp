#pragma once
// Splitting a folder's images into N shards for a cluster (one `vitc batch --shard K/N` per
// Slurm array task). The split depends only on the set of relative paths: the list is sorted by
// relative path, byte by byte, and the i-th file goes to shard i mod N. Round-robin rather than
// contiguous ranges, so that every shard gets a mix of the label subfolders (and of their image
// sizes) and the shards take about as long as each other.
#include <functional>
#include <string>
#include <vector>

#include "tasks/image_folder.hpp"

namespace vitc {

struct ShardSpec {
    int index = 0;  // K, from 0 to count-1 (as `sbatch --array=0-(N-1)` numbers its tasks)
    int count = 1;  // N
};

// Reads the environment; tests pass their own.
using EnvironmentLookup = std::function<const char*(const char* name)>;

// "K/N", or "auto": K from SLURM_ARRAY_TASK_ID and N from SLURM_ARRAY_TASK_COUNT, checked against
// SLURM_ARRAY_TASK_MIN/MAX when those are set (the array must number its tasks 0..N-1).
// Throws Error with a one-line reason when the text or the environment does not make a shard.
ShardSpec parse_shard(const std::string& text, const EnvironmentLookup& environment = std::getenv);

// The images of shard `spec`, in sorted order, whatever order `images` came in.
std::vector<ImageEntry> select_shard(std::vector<ImageEntry> images, const ShardSpec& spec);

// The shard a file belongs to, given its position in the sorted list.
inline int shard_of(size_t sorted_position, int count) { return static_cast<int>(sorted_position % count); }

}  // namespace vitc
