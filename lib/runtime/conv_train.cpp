#include "runtime/conv_train.hpp"

namespace vitc::runtime {

namespace {

using tag = dnnl::memory::format_tag;

dnnl::memory::desc activation_desc(int64_t n, int64_t c, int64_t h, int64_t w, tag layout,
                                   data_type t = data_type::f32) {
    return dnnl::memory::desc({n, c, h, w}, t, layout);  // dims are always N, C, H, W
}

}  // namespace

KernelOperand::KernelOperand(const dnnl::memory::desc& user, const dnnl::memory::desc& kernel)
    : copied_(user != kernel) {
    const auto& engine = cpu_engine();
    user_ = dnnl::memory(user, engine, nullptr);
    if (!copied_) {
        kernel_ = dnnl::memory(kernel, engine, nullptr);
        return;
    }
    kernel_ = dnnl::memory(kernel, engine);
    const dnnl::reorder::primitive_desc to_kernel(user_, kernel_);
    to_kernel_ = dnnl::reorder(to_kernel);
    to_kernel_impl_ = to_kernel.impl_info_str();
    if (kernel.data_type() == data_type::f32) {  // only f32 forms are ever written by a kernel
        const dnnl::reorder::primitive_desc to_user(kernel_, user_);
        to_user_ = dnnl::reorder(to_user);
        to_user_impl_ = to_user.impl_info_str();
    }
}

dnnl::memory& KernelOperand::read(dnnl::stream& stream, const float* values, bool reuse) {
    if (!copied_) {
        kernel_.set_data_handle(const_cast<float*>(values));
    } else if (!reuse || values != held_) {
        user_.set_data_handle(const_cast<float*>(values));
        to_kernel_.execute(stream, user_, kernel_);
        held_ = values;
    }
    return kernel_;
}

dnnl::memory& KernelOperand::write(float* values) {
    (copied_ ? user_ : kernel_).set_data_handle(values);
    held_ = nullptr;
    return kernel_;
}

void KernelOperand::finish_write(dnnl::stream& stream) {
    if (copied_) to_user_.execute(stream, kernel_, user_);
}

std::vector<std::string> KernelOperand::implementations() const {
    std::vector<std::string> all;
    if (!to_kernel_impl_.empty()) all.push_back("reorder to the kernel's layout: " + to_kernel_impl_);
    if (!to_user_impl_.empty()) all.push_back("reorder from the kernel's layout: " + to_user_impl_);
    return all;
}

ConvTrain::ConvTrain(const ConvShape& s, Precision precision) : shape_(s), bf16_(precision == Precision::BF16) {
    // Winograd where it applies and pays (see the header), the direct kernels otherwise.
    const bool winograd_pays = s.in >= 32 && s.out >= 32 && s.in % 16 == 0 && s.out % 16 == 0;
    if (!bf16_ && s.kernel == 3 && s.stride == 1 && winograd_pays) {
        try {
            build(dnnl::algorithm::convolution_winograd, tag::nChw16c);
            winograd_ = true;
            return;
        } catch (const dnnl::error&) {  // no Winograd kernel on this CPU
        }
    }
    build(dnnl::algorithm::convolution_direct, tag::nhwc);
}

void ConvTrain::build(dnnl::algorithm alg, tag layout) {
    const ConvShape& s = shape_;
    const auto& engine = cpu_engine();
    const data_type t = bf16_ ? data_type::bf16 : data_type::f32;  // the kernels' operands
    const int64_t Ho = s.out_height(), Wo = s.out_width();
    // The caller's f32 NHWC activations, and the kernels' forms: x and dy as operands in t,
    // y and dx as f32 results, all in `layout`.
    const auto user_x = activation_desc(s.batch, s.in, s.height, s.width, tag::nhwc);
    const auto user_y = activation_desc(s.batch, s.out, Ho, Wo, tag::nhwc);
    const auto x = activation_desc(s.batch, s.in, s.height, s.width, layout);
    const auto y = activation_desc(s.batch, s.out, Ho, Wo, layout);
    const auto x_op = activation_desc(s.batch, s.in, s.height, s.width, layout, t);
    const auto dy_op = activation_desc(s.batch, s.out, Ho, Wo, layout, t);
    const auto user_w = plain_desc({s.out, s.in, s.kernel, s.kernel});
    const auto any_w = dnnl::memory::desc(user_w.dims(), t, tag::any);
    const auto any_dw = dnnl::memory::desc(user_w.dims(), data_type::f32, tag::any);
    const dims strides{s.stride, s.stride}, padding{s.padding, s.padding};
    const auto fwd = dnnl::convolution_forward::primitive_desc(
        dnnl::convolution_forward::desc(dnnl::prop_kind::forward_training, alg, x_op, any_w, y, strides, padding,
                                        padding),
        engine);
    const auto data = dnnl::convolution_backward_data::primitive_desc(
        dnnl::convolution_backward_data::desc(alg, x, any_w, dy_op, strides, padding, padding), engine, fwd);
    const auto weights = dnnl::convolution_backward_weights::primitive_desc(
        dnnl::convolution_backward_weights::desc(alg, x_op, any_dw, dy_op, strides, padding, padding), engine, fwd);
    forward_ = dnnl::convolution_forward(fwd);
    backward_data_ = dnnl::convolution_backward_data(data);
    backward_weights_ = dnnl::convolution_backward_weights(weights);
    forward_impl_ = fwd.impl_info_str();
    data_impl_ = data.impl_info_str();
    weights_impl_ = weights.impl_info_str();

    // Copies where the kernels' form differs from the caller's: bf16 operands, nChw16c activations.
    x_ = KernelOperand(user_x, x_op);
    dx_ = KernelOperand(user_x, x);
    y_ = KernelOperand(user_y, y);
    dy_ = KernelOperand(user_y, dy_op);

    user_w_ = dnnl::memory(user_w, engine, nullptr);
    user_dw_ = dnnl::memory(user_w, engine, nullptr);
    forward_w_ = dnnl::memory(fwd.weights_desc(), engine);
    data_w_ = dnnl::memory(data.weights_desc(), engine);
    kernel_dw_ = dnnl::memory(weights.diff_weights_desc(), engine);
    to_forward_w_ = dnnl::reorder(user_w_, forward_w_);
    to_data_w_ = dnnl::reorder(user_w_, data_w_);
    from_kernel_dw_ = dnnl::reorder(kernel_dw_, user_dw_);
}

void ConvTrain::forward(dnnl::stream& stream, const float* x, const float* W, float* y) {
    user_w_.set_data_handle(const_cast<float*>(W));
    to_forward_w_.execute(stream, user_w_, forward_w_);
    forward_.execute(stream, {{DNNL_ARG_SRC, x_.read(stream, x)}, {DNNL_ARG_WEIGHTS, forward_w_},
                              {DNNL_ARG_DST, y_.write(y)}});
    y_.finish_write(stream);
}

void ConvTrain::backward(dnnl::stream& stream, const float* dy, const float* x, const float* W, float* dx,
                         float* dW) {
    dnnl::memory& kernel_dy = dy_.read(stream, dy);
    if (dx) {
        user_w_.set_data_handle(const_cast<float*>(W));
        to_data_w_.execute(stream, user_w_, data_w_);
        backward_data_.execute(stream, {{DNNL_ARG_DIFF_DST, kernel_dy}, {DNNL_ARG_WEIGHTS, data_w_},
                                        {DNNL_ARG_DIFF_SRC, dx_.write(dx)}});
        dx_.finish_write(stream);
    }
    backward_weights_.execute(stream, {{DNNL_ARG_SRC, x_.read(stream, x, /*reuse=*/true)},
                                       {DNNL_ARG_DIFF_DST, kernel_dy}, {DNNL_ARG_DIFF_WEIGHTS, kernel_dw_}});
    user_dw_.set_data_handle(dW);
    from_kernel_dw_.execute(stream, kernel_dw_, user_dw_);
}

std::vector<std::string> ConvTrain::implementations() const {
    std::vector<std::string> all = {"convolution forward: " + forward_impl_,
                                    "convolution backward data: " + data_impl_,
                                    "convolution backward weights: " + weights_impl_};
    for (const KernelOperand* operand : {&x_, &y_, &dy_, &dx_})
        for (const std::string& impl : operand->implementations()) all.push_back("convolution " + impl);
    return all;
}

}  // namespace vitc::runtime
