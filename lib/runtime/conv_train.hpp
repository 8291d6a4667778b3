#pragma once
// A bias-free 2-D convolution for training (torchvision's ResNet has no convolution biases), on
// oneDNN, with its two backward passes:
//   y  [N, Ho, Wo, O] = conv(x [N, H, W, I], W [O, I, k, k]), stride s, padding p on every side
//   dx [N, H, W, I]   = conv_transpose(dy, W)          (backward data)
//   dW [O, I, k, k]   = sum over images and pixels of dy (x) x   (backward weights)
//   Ho = (H + 2p - k) / s + 1
//
// The caller's activations are channels-last (NHWC): every loop around the convolutions
// (residual, pooling, BatchNorm statistics) is a plain loop over [pixels, channels]. Plain
// [O, I, k, k] weights would get `ref` kernels (hundreds of times slower), so the weights stay in
// PyTorch's layout inside the trainer's parameter buffer (the optimiser updates them in place) and
// this wrapper reorders them into the layouts the kernels chose: into a copy before forward and
// backward data, and dW out of the kernel's layout after backward weights. The weights are small
// next to the activations (the bundled CNN's largest has 147k values against 1.6M per activation
// at batch 128).
//
// Which kernels (f32):
//   - 3x3, stride 1, channel counts 32 and up in multiples of 16: Winograd F(4x4, 3x3) (oneDNN's
//     jit_wino_4x3), which computes each 4x4 output tile with 36 products per channel pair instead
//     of 144. It needs the blocked nChw16c layout, so the activations it reads and writes are
//     reordered between NHWC and nChw16c. Measured on the bundled CNN's shapes at batch 128
//     (AVX-512, two threads, kernels alone): 1.3x faster than the direct kernels at 32 channels on
//     14x14 pixels, 1.4x at 64 on 7x7, 1.9x at 128 on 4x4; at 16 channels on 28x28 it was 6%
//     slower, so 16 stays direct. The whole training step of that shape, two threads, three paired
//     runs: 1.03x to 1.18x faster with Winograd from 32 channels than without it.
//     Its rounding differs from the direct sum (the transforms add and subtract): about 1e-6 of a
//     tensor's largest magnitude against double, where the direct kernels give about 2e-7.
//   - everything else (16 channels, strided, 1x1, 7x7, the one-channel stem): the direct kernels
//     on NHWC (brgconv forward, jit backward), as fast as the blocked layouts there.
//   If the CPU has no Winograd kernel (it needs AVX-512), the direct ones run instead.
//
// bf16 (Precision::BF16): the three kernels read bf16 operands and accumulate and write f32:
//   y  = conv(bf16(x), bf16(W)),  dx = conv_transpose(bf16(dy), bf16(W)),  dW = bf16(dy) (x) bf16(x)
// The weight reorders convert as they reorder (W stays f32 in the parameter buffer, dW is f32);
// forward keeps bf16(x) for backward weights, and dy is converted once per backward. y, dx and dW
// stay f32, so BatchNorm, the residual stream and the optimiser never see bf16. (oneDNN has no
// bf16 Winograd kernel; bf16 always runs the direct ones.)
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

// One activation as a kernel reads or writes it: a view of the caller's NHWC f32 buffer when the
// kernel takes that form, else an owned buffer in the kernel's form (bf16, or nChw16c) with
// reorders to and from the caller's.
class KernelOperand {
public:
    KernelOperand() = default;
    KernelOperand(const dnnl::memory::desc& user, const dnnl::memory::desc& kernel);
    bool copied() const { return copied_; }
    // The kernel's memory holding `values` (converted if it is a copy). Converts only when the
    // values are not the ones it already holds (`reuse`: the same pointer, unchanged since).
    dnnl::memory& read(dnnl::stream& stream, const float* values, bool reuse = false);
    // The kernel's memory to write into; finish_write moves it into `values` if it is a copy.
    dnnl::memory& write(float* values);
    void finish_write(dnnl::stream& stream);
    std::vector<std::string> implementations() const;

private:
    bool copied_ = false;
    dnnl::memory user_, kernel_;
    dnnl::reorder to_kernel_, to_user_;
    std::string to_kernel_impl_, to_user_impl_;
    const float* held_ = nullptr;  // the caller's buffer the copy was last converted from
};

class ConvTrain {
public:
    ConvTrain() = default;
    explicit ConvTrain(const ConvShape& shape, Precision precision = Precision::F32);

    const ConvShape& shape() const { return shape_; }
    bool bf16() const { return bf16_; }
    bool winograd() const { return winograd_; }

    // y [N, Ho, Wo, O] = conv(x [N, H, W, I], W [O, I, k, k])
    void forward(dnnl::stream& stream, const float* x, const float* W, float* y);
    // Writes dW [O, I, k, k]; dx [N, H, W, I] too unless it is null (the first layer).
    // x must be forward's, unchanged (its converted copy from forward is what dW reads).
    void backward(dnnl::stream& stream, const float* dy, const float* x, const float* W, float* dx, float* dW);

    std::vector<std::string> implementations() const;

private:
    void build(dnnl::algorithm algorithm, dnnl::memory::format_tag layout);

    ConvShape shape_;
    bool bf16_ = false, winograd_ = false;
    dnnl::convolution_forward forward_;
    dnnl::convolution_backward_data backward_data_;
    dnnl::convolution_backward_weights backward_weights_;
    std::string forward_impl_, data_impl_, weights_impl_;
    KernelOperand x_, y_, dy_, dx_;                     // the activations, in the kernels' form
    dnnl::memory user_w_, user_dw_;                     // [O, I, k, k] in the parameter buffers
    dnnl::memory forward_w_, data_w_, kernel_dw_;       // the kernels' own layouts (owned)
    dnnl::reorder to_forward_w_, to_data_w_, from_kernel_dw_;
};

}  // namespace vitc::runtime
