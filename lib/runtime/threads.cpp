#include "runtime/threads.hpp"

#include <algorithm>
#include <atomic>

// Declared here rather than through <omp.h>: with clang, <omp.h> belongs to LLVM's libomp, while
// Debian's oneDNN runs on GCC's libgomp, whose thread team is the one that counts. We link
// libgomp and call its entry points directly, so no -fopenmp is needed with either compiler.
extern "C" {
void omp_set_num_threads(int);
int omp_get_max_threads();
int omp_get_thread_num();
int omp_get_num_threads();
void GOMP_parallel(void (*fn)(void*), void* data, unsigned num_threads, unsigned flags);
}

namespace vitc::runtime {

void set_threads(int threads) { omp_set_num_threads(threads); }

int max_threads() { return std::max(1, omp_get_max_threads()); }

std::string thread_count_text() {
    const int n = max_threads();
    return std::to_string(n) + (n == 1 ? " thread" : " threads");
}

namespace {

struct RangeJob {
    int64_t count;
    const std::function<void(int, int64_t, int64_t)>* body;
};

void run_range(void* data) {
    const auto& job = *static_cast<const RangeJob*>(data);
    const int thread = omp_get_thread_num(), team = omp_get_num_threads();
    const int64_t chunk = (job.count + team - 1) / team;
    const int64_t begin = std::min<int64_t>(job.count, thread * chunk), end = std::min<int64_t>(job.count, begin + chunk);
    if (begin < end) (*job.body)(thread, begin, end);
}

struct TaskJob {
    int64_t count;
    std::atomic<int64_t> next{0};
    const std::function<void(int, int64_t)>* body;
};

void run_tasks(void* data) {
    auto& job = *static_cast<TaskJob*>(data);
    const int thread = omp_get_thread_num();
    for (int64_t task = job.next++; task < job.count; task = job.next++) (*job.body)(thread, task);
}

}  // namespace

void parallel_tasks(int64_t count, const std::function<void(int, int64_t)>& body) {
    const int threads = static_cast<int>(std::clamp<int64_t>(count, 1, max_threads()));
    if (threads == 1) {
        for (int64_t task = 0; task < count; ++task) body(0, task);
        return;
    }
    TaskJob job;
    job.count = count;
    job.body = &body;
    GOMP_parallel(run_tasks, &job, static_cast<unsigned>(threads), 0);
}

void parallel_ranges(int64_t count, const std::function<void(int, int64_t, int64_t)>& body) {
    const int threads = static_cast<int>(std::clamp<int64_t>(count / 65536, 1, max_threads()));
    if (threads == 1) {
        if (count > 0) body(0, 0, count);
        return;
    }
    RangeJob job{count, &body};
    GOMP_parallel(run_range, &job, static_cast<unsigned>(threads), 0);
}

}  // namespace vitc::runtime
