#pragma once
// A Linear layer for training, y = x W^T + b, with its backward pass, on oneDNN matmuls. The
// parameters stay in PyTorch's layout (W [out, in] row-major, b [out]) inside the trainer's one
// parameter buffer; nothing is reordered, so the optimiser can update them in place.
//
// oneDNN 2.6 has no matmul backward; both gradients are matmuls on transposed ("ba") views:
//   dx [rows, in]  = dy [rows, out] W [out, in]
//   dW [out, in]   = dy^T [out, rows] x [rows, in]
//   db [out]       = column sums of dy (a plain loop: binary/reduction have no backward)
#include <string>
#include <vector>

#include "runtime/dnnl_helpers.hpp"

namespace vitc::runtime {

class LinearTrain {
public:
    LinearTrain() = default;
    // accumulate: forward adds to y (y += x W^T + b), for the residual stream.
    LinearTrain(int64_t rows, int64_t in, int64_t out, bool accumulate = false);

    int64_t rows() const { return rows_; }
    int64_t in() const { return in_; }
    int64_t out() const { return out_; }

    // y [rows, out] (+)= x [rows, in] W^T + b
    void forward(dnnl::stream& stream, const float* x, const float* W, const float* b, float* y);
    // Writes dW [out, in] and db [out]; dx [rows, in] too unless it is null (the first layer).
    void backward(dnnl::stream& stream, const float* dy, const float* x, const float* W, float* dx, float* dW,
                  float* db);

    // oneDNN's names for the three matmul kernels it chose ("brg:avx512_core", "gemm:jit", ...).
    std::vector<std::string> implementations() const;

private:
    int64_t rows_ = 0, in_ = 0, out_ = 0;
    dnnl::matmul forward_, backward_data_, backward_weights_;
    std::string forward_impl_, data_impl_, weights_impl_;
    // Memories over the caller's buffers; only the data handles change per call.
    dnnl::memory x_, w_, b_, y_;              // forward: x, W as [in, out] "ba", b [1, out], y
    dnnl::memory dy_, w_plain_, dx_;          // dx = dy W
    dnnl::memory dy_t_, x_src_, dw_;          // dW = dy^T x
};

}  // namespace vitc::runtime
