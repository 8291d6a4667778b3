// libFuzzer harness: arbitrary bytes as a PyTorch checkpoint. Bytes that start like a zip archive
// ("PK") go through the zip reader and the whole checkpoint reader (every float tensor read back
// in full); anything else goes straight to the restricted unpickler and the state_dict lookup, so
// the mutator reaches the pickle opcodes without first having to build a valid zip around them.
// Must never crash, leak or run away; a malformed input is a ModelError.
#include <cstdint>
#include <string>

#include "errors.hpp"
#include "io/checkpoint.hpp"
#include "io/pickle.hpp"
#include "io/zip_archive.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string bytes(reinterpret_cast<const char*>(data), size);
    try {
        if (bytes.rfind("PK", 0) == 0) {
            const auto checkpoint = vitc::TorchCheckpoint::from_archive(vitc::ZipArchive::from_bytes(bytes, "fuzz.pth"));
            for (const std::string& name : checkpoint.names()) {
                const vitc::DType t = checkpoint.dtype(name);
                if (t == vitc::DType::F32 || t == vitc::DType::F16 || t == vitc::DType::BF16 || t == vitc::DType::F64)
                    checkpoint.read_f32(name);
            }
        } else {
            const vitc::Pickle pickle = vitc::unpickle(bytes, "fuzz.pkl");
            vitc::state_dict_tensors(pickle, "fuzz.pkl");
        }
    } catch (const vitc::Error&) {
    }
    return 0;
}
