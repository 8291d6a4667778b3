#pragma once
// A restricted unpickler for the data.pkl of a torch.save'd state_dict. It builds values, never
// calls anything: the only callables a pickle may name (GLOBAL / STACK_GLOBAL) are
//   collections.OrderedDict               -> an empty dict (REDUCE with no arguments)
//   torch._utils._rebuild_tensor_v2       -> a tensor view of a storage (checked against it)
//   torch._utils._rebuild_parameter       -> the same tensor
//   torch.{Float,Double,Half,BFloat16,Long,Int,Short,Char,Byte,Bool}Storage  (persistent ids only)
// and any other name (os.system, builtins.eval, subprocess.Popen, ...) is refused where it
// appears, before anything could use it. Opcodes: those of protocols 2-4 that containers,
// strings, ints, floats, bools and None need, memo get/put, BINPERSID, REDUCE and BUILD; the
// rest are refused. Every length is checked against the bytes left, every memo index against
// the memo; the stack, the memo, the marks and the number of values are bounded, and nothing
// recurses, so no input can exhaust memory or the C++ stack. Values live in one array and refer
// to each other by index, so even a pickle that puts a list inside itself is harmless.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "io/safetensors.hpp"

namespace vitc {

// A storage named by a persistent id ('storage', torch.FloatStorage, key, location, numel).
struct PickleStorage {
    std::string key;      // the zip entry <archive>/data/<key>
    DType dtype = DType::F32;
    int64_t numel = 0;    // elements
};

// A tensor: a strided view of a storage (all counts in elements).
struct PickleTensor {
    size_t storage = 0;   // index into Pickle::storages
    int64_t offset = 0;
    std::vector<int64_t> shape, stride;
    int64_t numel() const;
};

struct PickleValue {
    enum class Kind { None, Bool, Int, Float, String, Tuple, List, Dict, Global, Storage, Tensor };
    Kind kind = Kind::None;
    int64_t integer = 0;       // Bool, Int; Storage and Tensor: their index
    double number = 0;         // Float
    std::string text;          // String; Global: "module.name"
    std::vector<size_t> items; // Tuple, List: values; Dict: key, value, key, value, ...
};

struct Pickle {
    std::vector<PickleValue> values;
    std::vector<PickleStorage> storages;
    std::vector<PickleTensor> tensors;
    size_t root = 0;
    const PickleValue& at(size_t i) const { return values[i]; }
};

// Parses `bytes`; throws ModelError(file, ...) naming the opcode or name it refuses and where.
Pickle unpickle(std::string_view bytes, const std::string& file);

// The state_dict in a parsed checkpoint: the top-level dict when it holds tensors, else the dict
// under "state_dict", "model_state_dict" or "model" (as training scripts save it); a "module."
// prefix on every name (DataParallel) is dropped. Refuses non-tensor entries and repeated names.
std::vector<std::pair<std::string, PickleTensor>> state_dict_tensors(const Pickle& pickle, const std::string& file);

}  // namespace vitc
