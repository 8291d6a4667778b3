#pragma once
// Which kernel computes a ViT's attention. One interface, two kernels:
//   full   the [N, H, T, T] score matrix in memory (oneDNN matmul, softmax, matmul): fastest at
//          small T, and explanations need its probabilities (explain/ reads them).
//   tiled  runtime/tiled_attention.hpp: query blocks against key blocks, memory O(T) per head.
//   auto   full while the score matrix fits kFullAttentionBudgetBytes, else tiled.
// The choice is process-wide, like the thread count: the command line sets it once
// (--attention), each new session reads it.
#include <cstdint>
#include <string>

namespace vitc::runtime {

enum class AttentionKernel { Auto, Full, Tiled };

AttentionKernel parse_attention_kernel(const std::string& name);  // "auto", "full", "tiled"; throws Error
const char* attention_kernel_name(AttentionKernel kernel);

void set_attention_kernel(AttentionKernel kernel);
AttentionKernel attention_kernel();

// Auto picks the full kernel while its f32 scores for the whole batch fit in this many bytes.
constexpr int64_t kFullAttentionBudgetBytes = int64_t{256} << 20;

// Bytes of the full kernel's score matrix: N * H * T * T floats.
int64_t full_attention_bytes(int64_t images, int64_t heads, int64_t tokens);
// The kernel a session of N images with H heads and T tokens runs: `requested`, or for Auto the
// rule above.
AttentionKernel choose_attention_kernel(AttentionKernel requested, int64_t images, int64_t heads, int64_t tokens);

// This machine's physical memory in bytes (the bound the token limits are derived from).
int64_t physical_memory_bytes();

}  // namespace vitc::runtime
