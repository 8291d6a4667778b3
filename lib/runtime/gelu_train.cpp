#include "runtime/gelu_train.hpp"

namespace vitc::runtime {

GeluTrain::GeluTrain(int64_t count) {
    const auto& engine = cpu_engine();
    const auto data = plain_desc({count});
    const auto alg = dnnl::algorithm::eltwise_gelu_erf;
    const auto fwd = dnnl::eltwise_forward::primitive_desc(
        dnnl::eltwise_forward::desc(dnnl::prop_kind::forward_training, alg, data, 0.0f, 0.0f), engine);
    const auto bwd = dnnl::eltwise_backward::primitive_desc(dnnl::eltwise_backward::desc(alg, data, data, 0.0f, 0.0f),
                                                           engine, fwd);
    forward_ = dnnl::eltwise_forward(fwd);
    backward_ = dnnl::eltwise_backward(bwd);
    forward_impl_ = fwd.impl_info_str();
    backward_impl_ = bwd.impl_info_str();
    for (dnnl::memory* m : {&x_, &y_, &dy_, &dx_}) *m = dnnl::memory(data, engine, nullptr);
}

void GeluTrain::forward(dnnl::stream& stream, const float* x, float* y) {
    x_.set_data_handle(const_cast<float*>(x));
    y_.set_data_handle(y);
    forward_.execute(stream, {{DNNL_ARG_SRC, x_}, {DNNL_ARG_DST, y_}});
}

void GeluTrain::backward(dnnl::stream& stream, const float* dy, const float* x, float* dx) {
    dy_.set_data_handle(const_cast<float*>(dy));
    x_.set_data_handle(const_cast<float*>(x));
    dx_.set_data_handle(dx);
    backward_.execute(stream, {{DNNL_ARG_SRC, x_}, {DNNL_ARG_DIFF_DST, dy_}, {DNNL_ARG_DIFF_SRC, dx_}});
}

std::vector<std::string> GeluTrain::implementations() const {
    return {"gelu forward: " + forward_impl_, "gelu backward: " + backward_impl_};
}

}  // namespace vitc::runtime
