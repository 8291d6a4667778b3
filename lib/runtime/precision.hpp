#pragma once
// The number format of a model's heavy operations. In the ViT, accumulation, LayerNorm and
// softmax statistics, the residual stream and the logits stay f32 in every mode; the ResNet
// keeps bf16 activations, its residual included, in bf16 mode (and has no int8 mode).
//   f32   everything f32.
//   bf16  weights and matmul inputs bf16, accumulation f32.
//   int8  Linear weights s8 per output channel (quantised at load); each Linear's input is
//         quantised per tensor at run time (scale = max|x| / 127); s32 accumulation, rescaled to
//         f32. Attention (Q K^T, softmax, P V) stays f32.
#include <string>

#include <dnnl.hpp>

namespace vitc {

enum class Precision { F32, BF16, INT8 };

Precision parse_precision(const std::string& name);  // "f32", "bf16" or "int8"; throws Error
const char* precision_name(Precision precision);
// The data type Linear weights are stored in.
dnnl::memory::data_type weight_data_type(Precision precision);
// The data type of the activations passed between matmuls (int8 quantises inside each Linear).
dnnl::memory::data_type activation_data_type(Precision precision);

}  // namespace vitc
