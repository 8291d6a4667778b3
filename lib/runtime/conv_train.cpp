#include "runtime/conv_train.hpp"

namespace vitc::runtime {

namespace {

using tag = dnnl::memory::format_tag;

dnnl::memory::desc nhwc_desc(int64_t n, int64_t c, int64_t h, int64_t w, data_type t = data_type::f32) {
    return dnnl::memory::desc({n, c, h, w}, t, tag::nhwc);  // dims are always N, C, H, W
}

}  // namespace

ConvTrain::ConvTrain(const ConvShape& s, Precision precision) : shape_(s), bf16_(precision == Precision::BF16) {
    const auto& engine = cpu_engine();
    const data_type t = bf16_ ? data_type::bf16 : data_type::f32;  // the kernels' operands
    // f32 results: y, dx and dW; x and dy as operands in t.
    const auto x = nhwc_desc(s.batch, s.in, s.height, s.width);
    const auto y = nhwc_desc(s.batch, s.out, s.out_height(), s.out_width());
    const auto x_op = nhwc_desc(s.batch, s.in, s.height, s.width, t);
    const auto dy_op = nhwc_desc(s.batch, s.out, s.out_height(), s.out_width(), t);
    const auto user_w = plain_desc({s.out, s.in, s.kernel, s.kernel});
    const auto any_w = dnnl::memory::desc(user_w.dims(), t, tag::any);
    const auto any_dw = dnnl::memory::desc(user_w.dims(), data_type::f32, tag::any);
    const dims strides{s.stride, s.stride}, padding{s.padding, s.padding};
    const auto alg = dnnl::algorithm::convolution_direct;
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

    x_ = dnnl::memory(x_op, engine, nullptr);
    dx_ = dnnl::memory(x, engine, nullptr);
    y_ = dnnl::memory(y, engine, nullptr);
    dy_ = dnnl::memory(dy_op, engine, nullptr);
    for (dnnl::memory* m : {&user_w_, &user_dw_}) *m = dnnl::memory(user_w, engine, nullptr);
    forward_w_ = dnnl::memory(fwd.weights_desc(), engine);
    data_w_ = dnnl::memory(data.weights_desc(), engine);
    kernel_dw_ = dnnl::memory(weights.diff_weights_desc(), engine);
    to_forward_w_ = dnnl::reorder(user_w_, forward_w_);
    to_data_w_ = dnnl::reorder(user_w_, data_w_);
    from_kernel_dw_ = dnnl::reorder(kernel_dw_, user_dw_);
    if (bf16_) {
        x_to_bf16_ = ToBF16({s.batch * s.height * s.width * s.in});
        dy_to_bf16_ = ToBF16({s.batch * s.out_height() * s.out_width() * s.out});
        x_bf16_.resize(s.batch * s.height * s.width * s.in);
        dy_bf16_.resize(s.batch * s.out_height() * s.out_width() * s.out);
    }
}

void ConvTrain::forward(dnnl::stream& stream, const float* x, const float* W, float* y) {
    user_w_.set_data_handle(const_cast<float*>(W));
    to_forward_w_.execute(stream, user_w_, forward_w_);
    if (bf16_) {
        x_to_bf16_.run(stream, x, x_bf16_.data());
        converted_x_ = x;
        x_.set_data_handle(x_bf16_.data());
    } else {
        x_.set_data_handle(const_cast<float*>(x));
    }
    y_.set_data_handle(y);
    forward_.execute(stream, {{DNNL_ARG_SRC, x_}, {DNNL_ARG_WEIGHTS, forward_w_}, {DNNL_ARG_DST, y_}});
}

void ConvTrain::backward(dnnl::stream& stream, const float* dy, const float* x, const float* W, float* dx,
                         float* dW) {
    if (bf16_) {
        dy_to_bf16_.run(stream, dy, dy_bf16_.data());
        dy_.set_data_handle(dy_bf16_.data());
    } else {
        dy_.set_data_handle(const_cast<float*>(dy));
    }
    if (dx) {
        user_w_.set_data_handle(const_cast<float*>(W));
        to_data_w_.execute(stream, user_w_, data_w_);
        dx_.set_data_handle(dx);
        backward_data_.execute(stream, {{DNNL_ARG_DIFF_DST, dy_}, {DNNL_ARG_WEIGHTS, data_w_}, {DNNL_ARG_DIFF_SRC, dx_}});
    }
    if (!bf16_) {
        x_.set_data_handle(const_cast<float*>(x));
    } else if (x != converted_x_) {  // forward converted another tensor: convert this one
        x_to_bf16_.run(stream, x, x_bf16_.data());
        converted_x_ = x;
        x_.set_data_handle(x_bf16_.data());
    }
    backward_weights_.execute(stream, {{DNNL_ARG_SRC, x_}, {DNNL_ARG_DIFF_DST, dy_}, {DNNL_ARG_DIFF_WEIGHTS, kernel_dw_}});
    user_dw_.set_data_handle(dW);
    from_kernel_dw_.execute(stream, kernel_dw_, user_dw_);
}

std::vector<std::string> ConvTrain::implementations() const {
    std::vector<std::string> all = {"convolution forward: " + forward_impl_,
                                    "convolution backward data: " + data_impl_,
                                    "convolution backward weights: " + weights_impl_};
    if (bf16_)
        for (const auto* c : {&x_to_bf16_, &dy_to_bf16_}) all.push_back("convolution " + c->implementation());
    return all;
}

}  // namespace vitc::runtime
