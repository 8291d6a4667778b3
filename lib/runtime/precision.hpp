#pragma once
// The number format of the matmul inputs. Accumulation, LayerNorm and softmax statistics, the
// residual stream and the logits stay f32 in every mode.
#include <string>

#include <dnnl.hpp>

namespace vitc {

enum class Precision { F32, BF16 };

Precision parse_precision(const std::string& name);  // "f32" or "bf16"; throws Error
const char* precision_name(Precision precision);
dnnl::memory::data_type matmul_data_type(Precision precision);

}  // namespace vitc
