#include "runtime/precision.hpp"

#include "errors.hpp"

namespace vitc {

Precision parse_precision(const std::string& name) {
    if (name == "f32") return Precision::F32;
    if (name == "bf16") return Precision::BF16;
    throw Error("--precision must be f32 or bf16, not '" + name + "'");
}

const char* precision_name(Precision precision) { return precision == Precision::BF16 ? "bf16" : "f32"; }

dnnl::memory::data_type matmul_data_type(Precision precision) {
    return precision == Precision::BF16 ? dnnl::memory::data_type::bf16 : dnnl::memory::data_type::f32;
}

}  // namespace vitc
