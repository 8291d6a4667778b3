#include "runtime/threads.hpp"

// Declared here rather than through <omp.h>: with clang, <omp.h> belongs to LLVM's libomp, while
// Debian's oneDNN runs on GCC's libgomp, whose setting is the one that counts. We link libgomp.
extern "C" void omp_set_num_threads(int);

namespace vitc::runtime {

void set_threads(int threads) { omp_set_num_threads(threads); }

}  // namespace vitc::runtime
