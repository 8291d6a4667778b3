#pragma once
// A Linear layer y = x W^T + b on oneDNN: the weights, prepared once at load, and the primitive
// that applies them to a fixed number of rows.
#include <string>
#include <vector>

#include "runtime/dnnl_helpers.hpp"
#include "runtime/quantize.hpp"
#include "tensor.hpp"

namespace vitc::runtime {

// W [out, in] as PyTorch stores it, converted to `type` (f32, bf16, or s8 per output channel)
// and reordered once into the layout oneDNN's matmul picks for it (format_tag::any).
struct LinearWeights {
    int64_t in = 0, out = 0;
    data_type type = data_type::f32;
    dnnl::memory weights;              // logical [in, out]
    dnnl::memory bias;                 // [1, out], f32
    std::vector<float> channel_scales; // s8 only: W[n][k] ~ channel_scales[n] * q[n][k]
};
LinearWeights prepare_linear(const Tensor& weight, const Tensor& bias, data_type type = data_type::f32);

// Matmul for `rows` x in -> rows x out with the prepared weights, bias and `post_ops`; the input
// has the weights' type, the output `dst_type`. Scratchpad is user-managed. s8 weights: s8 input,
// run-time per-column output scales, and the bias as a binary post-op whose index is stored in
// *bias_post_op (see LinearLayer).
dnnl::matmul::primitive_desc linear_primitive_desc(int64_t rows, const LinearWeights& w,
                                                   const dnnl::post_ops& post_ops = dnnl::post_ops(),
                                                   data_type dst_type = data_type::f32, int* bias_post_op = nullptr);

// One Linear primitive for `rows` rows, reused by every layer of the same shape (the weights are
// given per call). The input is in input_type():
//   f32, bf16: the weights' type; one matmul.
//   s8: f32, quantised per tensor on the way in (x ~ s q, s = max|x| / 127). The matmul then
//       scales column n of the s32 product q Wq^T by s * channel_scales[n] and adds b in f32.
class LinearLayer {
public:
    LinearLayer() = default;
    LinearLayer(int64_t rows, const LinearWeights& like, const dnnl::post_ops& post_ops = dnnl::post_ops(),
                data_type dst_type = data_type::f32);
    // Not copyable: a copy would share the int8 buffers (dnnl::memory is a shared handle).
    LinearLayer(const LinearLayer&) = delete;
    LinearLayer& operator=(const LinearLayer&) = delete;
    LinearLayer(LinearLayer&&) = default;
    LinearLayer& operator=(LinearLayer&&) = default;

    size_t scratchpad_bytes() const { return scratchpad_bytes_; }
    // Buffers of its own (int8: the quantised input), apart from the shared scratchpad.
    size_t buffer_bytes() const;
    data_type input_type() const { return quantized_ ? data_type::f32 : type_; }
    // oneDNN's name for the kernel it chose, e.g. "brg:avx512_core" or "gemm:jit".
    const std::string& implementation() const { return implementation_; }
    // dst = post_ops(src W^T + b), for weights shaped and laid out like `like` (checked). The
    // stream may still be running when this returns.
    void run(dnnl::stream& stream, const dnnl::memory& src, const LinearWeights& w, const dnnl::memory& dst,
             const dnnl::memory& scratchpad);

private:
    dnnl::matmul matmul_;
    dnnl::memory::desc weights_desc_;  // the layout every `w` passed to run() must have
    data_type type_ = data_type::f32;
    size_t scratchpad_bytes_ = 0;
    std::string implementation_;
    bool quantized_ = false;
    DynamicQuantizer quantizer_;              // s8 only
    dnnl::memory output_scales_;              // s8 only: [out], refilled per call
    int bias_arg_ = DNNL_ARG_BIAS;            // s8: the bias is a binary post-op's argument
    Args args_;                               // built once; only the tensors change per call
};

}  // namespace vitc::runtime
