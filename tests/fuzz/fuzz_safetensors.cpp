// libFuzzer harness: arbitrary bytes as a model.safetensors file. Must never crash; a malformed
// file is a ModelError. Valid tensors are read back in full to touch every byte they claim.
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <string>

#include "errors.hpp"
#include "io/safetensors.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    // The reader maps files, so the input goes to an in-memory file.
    const int fd = memfd_create("fuzz.safetensors", MFD_CLOEXEC);
    if (fd < 0) return 0;
    if (size && write(fd, data, size) != static_cast<ssize_t>(size)) {
        close(fd);
        return 0;
    }
    const std::string path = "/proc/self/fd/" + std::to_string(fd);
    try {
        const auto file = vitc::SafetensorsFile::open(path);
        for (const auto& [name, info] : file.tensors()) {
            if (info.dtype == vitc::DType::F32 || info.dtype == vitc::DType::F16 || info.dtype == vitc::DType::BF16)
                if (info.nbytes <= (64u << 20)) file.read_f32(name);
        }
    } catch (const vitc::Error&) {
    }
    close(fd);
    return 0;
}
