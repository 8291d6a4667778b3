#pragma once
// How many threads oneDNN's primitives use.
namespace vitc::runtime {

// Sets the OpenMP thread count of the runtime Debian's oneDNN is built with (libgomp).
void set_threads(int threads);

}  // namespace vitc::runtime
