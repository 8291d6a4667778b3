#pragma once
// The interrupt-and-resume check the training tests share: the same options run once
// uninterrupted into whole/, and once into parts/, stopped after step `stop_after` as Ctrl-C stops
// it (exit 130, a checkpoint written) and then continued with --resume to the end. The tests then
// compare the two directories.
#include <atomic>
#include <catch2/catch.hpp>
#include <functional>
#include <sstream>
#include <string>

#include "test_helpers.hpp"
#include "train/checkpoint.hpp"
#include "train/trainer.hpp"

namespace vitc::train {

struct InterruptedRun {
    std::string whole, parts;          // the two output directories
    int64_t step_at_interruption = 0;  // the step parts/'s checkpoint held when the run stopped
};

inline InterruptedRun run_whole_and_interrupted(const test::TempDir& tmp,
                                                const std::function<TrainOptions(const std::string&)>& options,
                                                int64_t stop_after) {
    std::atomic<bool> stop{false};
    std::ostringstream log;
    InterruptedRun r{tmp.file("whole"), tmp.file("parts")};
    REQUIRE(run_training(options(r.whole), stop, log) == 0);
    REQUIRE(run_training(options(r.parts), stop, log, [&](int64_t step) { stop = step == stop_after; }) == 130);
    r.step_at_interruption = read_checkpoint(checkpoint_file(r.parts)).state.at("step");
    stop = false;
    TrainOptions resume = options(r.parts);
    resume.resume = true;
    REQUIRE(run_training(resume, stop, log) == 0);
    return r;
}

}  // namespace vitc::train
