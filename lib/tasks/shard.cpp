#include "tasks/shard.hpp"

#include <algorithm>
#include <cstdlib>

#include "errors.hpp"

namespace vitc {

namespace {

// A whole decimal number in [0, 2^31), or -1.
long parse_count(const std::string& text) {
    if (text.empty() || text.size() > 10 || !std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; }))
        return -1;
    const long value = std::strtol(text.c_str(), nullptr, 10);
    return value <= 0x7fffffffL ? value : -1;
}

ShardSpec checked(long index, long count, const std::string& what) {
    if (count < 1) throw Error(what + ": the number of shards must be at least 1");
    if (index < 0 || index >= count)
        throw Error(what + ": shard " + std::to_string(index) + " does not exist; shards are numbered 0 to " +
                    std::to_string(count - 1));
    return {static_cast<int>(index), static_cast<int>(count)};
}

ShardSpec from_slurm(const EnvironmentLookup& environment) {
    auto read = [&](const char* name, bool required) -> long {
        const char* value = environment(name);
        if (!value || !*value) {
            if (required)
                throw Error(std::string("--shard auto: ") + name +
                            " is not set (run it as a Slurm array task, sbatch --array=0-(N-1), or give --shard K/N)");
            return -1;
        }
        const long n = parse_count(value);
        if (n < 0) throw Error(std::string("--shard auto: ") + name + "='" + value + "' is not a whole number");
        return n;
    };
    const long id = read("SLURM_ARRAY_TASK_ID", true), count = read("SLURM_ARRAY_TASK_COUNT", true);
    const long min = read("SLURM_ARRAY_TASK_MIN", false), max = read("SLURM_ARRAY_TASK_MAX", false);
    // An array such as --array=1-4, 0-7:2 or a single rerun task (--array=2) has COUNT tasks that
    // are not numbered 0..COUNT-1: the shard would not be the one meant.
    if ((min >= 0 && min != 0) || (max >= 0 && max != count - 1) || id >= count)
        throw Error("--shard auto: the array's tasks are not numbered 0.." + std::to_string(count - 1) +
                    " (SLURM_ARRAY_TASK_ID " + std::to_string(id) + ", COUNT " + std::to_string(count) +
                    (min >= 0 ? ", MIN " + std::to_string(min) : "") + (max >= 0 ? ", MAX " + std::to_string(max) : "") +
                    "); submit --array=0-(N-1), or give --shard K/N to rerun one task");
    return checked(id, count, "--shard auto");
}

}  // namespace

ShardSpec parse_shard(const std::string& text, const EnvironmentLookup& environment) {
    if (text == "auto") return from_slurm(environment);
    const size_t slash = text.find('/');
    const std::string what = "--shard '" + text + "'";
    if (slash == std::string::npos) throw Error(what + ": expected K/N (e.g. 0/4) or auto");
    const long index = parse_count(text.substr(0, slash)), count = parse_count(text.substr(slash + 1));
    if (index < 0 || count < 0) throw Error(what + ": K and N must be whole numbers, as in 0/4");
    return checked(index, count, what);
}

std::vector<ImageEntry> select_shard(std::vector<ImageEntry> images, const ShardSpec& spec) {
    // std::string compares as unsigned bytes (char_traits<char>), so the order is that of the
    // bytes of the path, the same on every machine and locale.
    std::sort(images.begin(), images.end(),
              [](const ImageEntry& a, const ImageEntry& b) { return a.relative < b.relative; });
    std::vector<ImageEntry> mine;
    mine.reserve(images.size() / spec.count + 1);
    for (size_t i = 0; i < images.size(); ++i)
        if (shard_of(i, spec.count) == spec.index) mine.push_back(std::move(images[i]));
    return mine;
}

}  // namespace vitc
