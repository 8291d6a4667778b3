#include "runtime/precision.hpp"

#include "errors.hpp"

namespace vitc {

using dt = dnnl::memory::data_type;

Precision parse_precision(const std::string& name) {
    if (name == "f32") return Precision::F32;
    if (name == "bf16") return Precision::BF16;
    if (name == "int8") return Precision::INT8;
    throw Error("--precision must be f32, bf16 or int8, not '" + name + "'");
}

const char* precision_name(Precision precision) {
    switch (precision) {
        case Precision::BF16: return "bf16";
        case Precision::INT8: return "int8";
        default: return "f32";
    }
}

dt weight_data_type(Precision precision) {
    switch (precision) {
        case Precision::BF16: return dt::bf16;
        case Precision::INT8: return dt::s8;
        default: return dt::f32;
    }
}

dt activation_data_type(Precision precision) { return precision == Precision::BF16 ? dt::bf16 : dt::f32; }

}  // namespace vitc
