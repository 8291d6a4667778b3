#pragma once
// A Linear layer for training, y = x W^T + b, with its backward pass, on oneDNN matmuls. The
// parameters stay in PyTorch's layout (W [out, in] row-major, b [out]) inside the trainer's one
// parameter buffer; nothing is reordered, so the optimiser can update them in place.
//
// oneDNN 2.6 has no matmul backward; both gradients are matmuls on transposed ("ba") views:
//   dx [rows, in]  = dy [rows, out] W [out, in]
//   dW [out, in]   = dy^T [out, rows] x [rows, in]
//   db [out]       = column sums of dy (a plain loop: binary/reduction have no backward)
//
// bf16 (Precision::BF16): the three matmuls read bf16 operands and accumulate and write f32.
// The caller converts each step's f32 master weights once (convert_weights), and keeps the bf16
// copy of x that forward writes for the weight gradient; dy is converted once per backward. y,
// dx, dW and db stay f32, so the residual stream and the optimiser never see bf16.
#include <string>
#include <vector>

#include "runtime/dnnl_helpers.hpp"
#include "runtime/precision.hpp"

namespace vitc::runtime {

class LinearTrain {
public:
    LinearTrain() = default;
    // accumulate: forward adds to y (y += x W^T + b), for the residual stream.
    // precision: F32 or BF16 (the matmul operands).
    LinearTrain(int64_t rows, int64_t in, int64_t out, bool accumulate = false, Precision precision = Precision::F32);

    int64_t rows() const { return rows_; }
    int64_t in() const { return in_; }
    int64_t out() const { return out_; }
    bool bf16() const { return bf16_; }

    // f32:
    // y [rows, out] (+)= x [rows, in] W^T + b
    void forward(dnnl::stream& stream, const float* x, const float* W, const float* b, float* y);
    // Writes dW [out, in] and db [out]; dx [rows, in] too unless it is null (the first layer).
    void backward(dnnl::stream& stream, const float* dy, const float* x, const float* W, float* dx, float* dW,
                  float* db);

    // bf16:
    // Wb [out, in] = bf16(W), the copy both passes read (once per step, after the update).
    void convert_weights(dnnl::stream& stream, const float* W, bfloat16* Wb);
    // xb [rows, in] = bf16(x), kept by the caller for backward;  y (+)= xb Wb^T + b
    void forward(dnnl::stream& stream, const float* x, bfloat16* xb, const bfloat16* Wb, const float* b, float* y);
    // dx = bf16(dy) Wb,  dW = bf16(dy)^T xb,  db = column sums of dy (f32).
    void backward(dnnl::stream& stream, const float* dy, const bfloat16* xb, const bfloat16* Wb, float* dx, float* dW,
                  float* db);

    // oneDNN's names for the three matmul kernels it chose ("brg:avx512_core", "gemm:jit", ...).
    std::vector<std::string> implementations() const;

private:
    void run_forward(dnnl::stream& stream, const void* x, const void* W, const float* b, float* y);
    void run_backward(dnnl::stream& stream, const void* dy, const void* x, const void* W, float* dx, float* dW);
    void column_sums(const float* dy, float* db) const;

    int64_t rows_ = 0, in_ = 0, out_ = 0;
    bool bf16_ = false;
    dnnl::matmul forward_, backward_data_, backward_weights_;
    std::string forward_impl_, data_impl_, weights_impl_;
    ToBF16 x_to_bf16_, dy_to_bf16_, w_to_bf16_;  // bf16 only
    std::vector<bfloat16> dy_bf16_;               // bf16 only: [rows, out]
    // Memories over the caller's buffers; only the data handles change per call.
    dnnl::memory x_, w_, b_, y_;              // forward: x, W as [in, out] "ba", b [1, out], y
    dnnl::memory dy_, w_plain_, dx_;          // dx = dy W
    dnnl::memory dy_t_, x_src_, dw_;          // dW = dy^T x
};

}  // namespace vitc::runtime
