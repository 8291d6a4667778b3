#pragma once
// How many threads oneDNN's primitives use, and a parallel loop on the same thread team.
#include <cstdint>
#include <functional>
#include <string>

namespace vitc::runtime {

// Sets the OpenMP thread count of the runtime Debian's oneDNN is built with (libgomp).
void set_threads(int threads);

// Splits [0, count) into one contiguous range per thread of oneDNN's OpenMP team and calls
// body(thread, begin, end) on each, concurrently (thread < max_threads()). For the few light
// passes that are not oneDNN primitives (int8's max-abs scan). Small counts run on the caller.
// `body` must not throw: an exception cannot cross the OpenMP region (the program would end).
void parallel_ranges(int64_t count, const std::function<void(int thread, int64_t begin, int64_t end)>& body);

// Calls body(thread, task) for every task in [0, count), each thread of oneDNN's OpenMP team
// taking the next task when it is free: for a few heavy tasks of uneven cost (attention blocks
// on a machine other jobs share). `body` must not throw, as above.
void parallel_tasks(int64_t count, const std::function<void(int thread, int64_t task)>& body);

// The size of the OpenMP team a parallel region started on this thread gets. libgomp keeps the
// setting per thread: set_threads() on the main thread does not reach threads started earlier.
int max_threads();

// max_threads() in words, for progress lines: "1 thread", "2 threads".
std::string thread_count_text();

}  // namespace vitc::runtime
