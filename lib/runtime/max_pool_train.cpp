#include "runtime/max_pool_train.hpp"

namespace vitc::runtime {

MaxPoolTrain::MaxPoolTrain(int64_t batch, int64_t channels, int64_t height, int64_t width, int64_t kernel,
                           int64_t stride, int64_t padding)
    : out_height_((height + 2 * padding - kernel) / stride + 1), out_width_((width + 2 * padding - kernel) / stride + 1) {
    const auto& engine = cpu_engine();
    const auto nhwc = dnnl::memory::format_tag::nhwc;
    const dnnl::memory::desc x({batch, channels, height, width}, data_type::f32, nhwc);
    const dnnl::memory::desc y({batch, channels, out_height_, out_width_}, data_type::f32, nhwc);
    const dims strides{stride, stride}, window{kernel, kernel}, pad{padding, padding};
    const auto alg = dnnl::algorithm::pooling_max;
    const auto training = dnnl::pooling_forward::primitive_desc(
        dnnl::pooling_forward::desc(dnnl::prop_kind::forward_training, alg, x, y, strides, window, pad, pad), engine);
    const auto inference = dnnl::pooling_forward::primitive_desc(
        dnnl::pooling_forward::desc(dnnl::prop_kind::forward_inference, alg, x, y, strides, window, pad, pad), engine);
    const auto backward = dnnl::pooling_backward::primitive_desc(
        dnnl::pooling_backward::desc(alg, x, y, strides, window, pad, pad), engine, training);
    training_ = dnnl::pooling_forward(training);
    inference_ = dnnl::pooling_forward(inference);
    backward_ = dnnl::pooling_backward(backward);
    training_impl_ = training.impl_info_str();
    backward_impl_ = backward.impl_info_str();
    workspace_bytes_ = training.workspace_desc().get_size();
    workspace_ = dnnl::memory(training.workspace_desc(), engine, nullptr);
    for (dnnl::memory* m : {&x_, &dx_}) *m = dnnl::memory(x, engine, nullptr);
    for (dnnl::memory* m : {&y_, &dy_}) *m = dnnl::memory(y, engine, nullptr);
}

void MaxPoolTrain::forward(dnnl::stream& stream, const float* x, float* y, void* workspace) {
    x_.set_data_handle(const_cast<float*>(x));
    y_.set_data_handle(y);
    if (!workspace) {
        inference_.execute(stream, {{DNNL_ARG_SRC, x_}, {DNNL_ARG_DST, y_}});
        return;
    }
    workspace_.set_data_handle(workspace);
    training_.execute(stream, {{DNNL_ARG_SRC, x_}, {DNNL_ARG_DST, y_}, {DNNL_ARG_WORKSPACE, workspace_}});
}

void MaxPoolTrain::backward(dnnl::stream& stream, const float* dy, const void* workspace, float* dx) {
    dy_.set_data_handle(const_cast<float*>(dy));
    dx_.set_data_handle(dx);
    workspace_.set_data_handle(const_cast<void*>(workspace));
    backward_.execute(stream, {{DNNL_ARG_DIFF_DST, dy_}, {DNNL_ARG_WORKSPACE, workspace_}, {DNNL_ARG_DIFF_SRC, dx_}});
}

std::vector<std::string> MaxPoolTrain::implementations() const {
    return {"max pool forward: " + training_impl_, "max pool backward: " + backward_impl_};
}

}  // namespace vitc::runtime
