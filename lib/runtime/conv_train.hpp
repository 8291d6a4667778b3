#pragma once
// A bias-free 2-D convolution for training (torchvision's ResNet has no convolution biases), on
// oneDNN, with its two backward passes:
//   y  [N, Ho, Wo, O] = conv(x [N, H, W, I], W [O, I, k, k]), stride s, padding p on every side
//   dx [N, H, W, I]   = conv_transpose(dy, W)          (backward data)
//   dW [O, I, k, k]   = sum over images and pixels of dy (x) x   (backward weights)
//   Ho = (H + 2p - k) / s + 1
//
// Activations are channels-last (NHWC). Measured on the bundled CNN's shapes at batch 128
// (AVX-512): NHWC gets brgconv forward and jit backward kernels, as fast as the blocked
// nChw16c layouts, and keeps every loop around the convolutions (residual, pooling, BatchNorm
// statistics) a plain loop over [pixels, channels]. Plain [O, I, k, k] weights would get `ref`
// kernels (hundreds of times slower), so the weights stay in PyTorch's layout inside the
// trainer's parameter buffer (the optimiser updates them in place) and this wrapper reorders
// them into the layouts the kernels chose: into a copy before forward and backward data, and
// dW out of the kernel's layout after backward weights. The weights are small next to the
// activations (the bundled CNN's largest has 147k values against 1.6M per activation at batch 128).
//
// bf16 (Precision::BF16): the three kernels read bf16 operands and accumulate and write f32:
//   y  = conv(bf16(x), bf16(W)),  dx = conv_transpose(bf16(dy), bf16(W)),  dW = bf16(dy) (x) bf16(x)
// The weight reorders convert as they reorder (W stays f32 in the parameter buffer, dW is f32);
// forward keeps bf16(x) for backward weights, and dy is converted once per backward. y, dx and dW
// stay f32, so BatchNorm, the residual stream and the optimiser never see bf16.
#include <string>
#include <vector>

#include "runtime/dnnl_helpers.hpp"
#include "runtime/precision.hpp"

namespace vitc::runtime {

struct ConvShape {
    int64_t batch = 0, in = 0, out = 0, height = 0, width = 0;  // N, I, O, H, W (of the input)
    int64_t kernel = 1, stride = 1, padding = 0;
    int64_t out_height() const { return (height + 2 * padding - kernel) / stride + 1; }
    int64_t out_width() const { return (width + 2 * padding - kernel) / stride + 1; }
};

class ConvTrain {
public:
    ConvTrain() = default;
    explicit ConvTrain(const ConvShape& shape, Precision precision = Precision::F32);

    const ConvShape& shape() const { return shape_; }
    bool bf16() const { return bf16_; }

    // y [N, Ho, Wo, O] = conv(x [N, H, W, I], W [O, I, k, k])
    void forward(dnnl::stream& stream, const float* x, const float* W, float* y);
    // Writes dW [O, I, k, k]; dx [N, H, W, I] too unless it is null (the first layer).
    // x must be forward's (in bf16, its bf16 copy from forward is what dW reads).
    void backward(dnnl::stream& stream, const float* dy, const float* x, const float* W, float* dx, float* dW);

    std::vector<std::string> implementations() const;

private:
    ConvShape shape_;
    bool bf16_ = false;
    dnnl::convolution_forward forward_;
    dnnl::convolution_backward_data backward_data_;
    dnnl::convolution_backward_weights backward_weights_;
    std::string forward_impl_, data_impl_, weights_impl_;
    dnnl::memory x_, y_, dy_, dx_;                      // NHWC views of the caller's buffers
    dnnl::memory user_w_, user_dw_;                     // [O, I, k, k] in the parameter buffers
    dnnl::memory forward_w_, data_w_, kernel_dw_;       // the kernels' own layouts (owned)
    dnnl::reorder to_forward_w_, to_data_w_, from_kernel_dw_;
    // bf16 only: the kernels' operands, x [N, H, W, I] (kept from forward) and dy [N, Ho, Wo, O].
    ToBF16 x_to_bf16_, dy_to_bf16_;
    std::vector<bfloat16> x_bf16_, dy_bf16_;
    const float* converted_x_ = nullptr;  // the x that x_bf16_ holds
};

}  // namespace vitc::runtime
