#include "runtime/attention_kernel.hpp"

#include <unistd.h>

#include <atomic>
#include <limits>

#include "errors.hpp"

namespace vitc::runtime {

namespace {
std::atomic<AttentionKernel> g_kernel{AttentionKernel::Auto};
}

AttentionKernel parse_attention_kernel(const std::string& name) {
    if (name == "auto") return AttentionKernel::Auto;
    if (name == "full") return AttentionKernel::Full;
    if (name == "tiled") return AttentionKernel::Tiled;
    throw Error("--attention must be auto, full or tiled, not '" + name + "'");
}

const char* attention_kernel_name(AttentionKernel kernel) {
    switch (kernel) {
        case AttentionKernel::Full: return "full";
        case AttentionKernel::Tiled: return "tiled";
        default: return "auto";
    }
}

void set_attention_kernel(AttentionKernel kernel) { g_kernel = kernel; }
AttentionKernel attention_kernel() { return g_kernel; }

int64_t full_attention_bytes(int64_t images, int64_t heads, int64_t tokens) {
    // In double: a crafted size must not wrap around to a small number.
    const double bytes = static_cast<double>(images) * heads * tokens * tokens * sizeof(float);
    return bytes < 9e18 ? static_cast<int64_t>(bytes) : std::numeric_limits<int64_t>::max();
}

AttentionKernel choose_attention_kernel(AttentionKernel requested, int64_t images, int64_t heads, int64_t tokens) {
    if (requested != AttentionKernel::Auto) return requested;
    return full_attention_bytes(images, heads, tokens) <= kFullAttentionBudgetBytes ? AttentionKernel::Full
                                                                                     : AttentionKernel::Tiled;
}

int64_t physical_memory_bytes() {
    const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    return pages > 0 && page > 0 ? static_cast<int64_t>(pages) * page : int64_t{1} << 40;
}

}  // namespace vitc::runtime
