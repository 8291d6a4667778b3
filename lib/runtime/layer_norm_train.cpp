#include "runtime/layer_norm_train.hpp"

namespace vitc::runtime {

LayerNormTrain::LayerNormTrain(int64_t rows, int64_t dim, float eps) {
    using flags = dnnl::normalization_flags;
    const auto& engine = cpu_engine();
    const auto data = plain_desc({rows, dim}), stat = plain_desc({rows}), param = plain_desc({dim});
    const flags f = flags::use_scale | flags::use_shift;
    const auto fwd = dnnl::layer_normalization_forward::primitive_desc(
        dnnl::layer_normalization_forward::desc(dnnl::prop_kind::forward_training, data, stat, eps, f), engine);
    const auto bwd = dnnl::layer_normalization_backward::primitive_desc(
        dnnl::layer_normalization_backward::desc(dnnl::prop_kind::backward, data, data, stat, eps, f), engine, fwd);
    forward_ = dnnl::layer_normalization_forward(fwd);
    backward_ = dnnl::layer_normalization_backward(bwd);
    forward_impl_ = fwd.impl_info_str();
    backward_impl_ = bwd.impl_info_str();
    for (dnnl::memory* m : {&x_, &y_, &dy_, &dx_}) *m = dnnl::memory(data, engine, nullptr);
    for (dnnl::memory* m : {&mean_, &variance_}) *m = dnnl::memory(stat, engine, nullptr);
    for (dnnl::memory* m : {&gamma_, &beta_, &dgamma_, &dbeta_}) *m = dnnl::memory(param, engine, nullptr);
}

void LayerNormTrain::forward(dnnl::stream& stream, const float* x, const float* gamma, const float* beta, float* y,
                             float* mean, float* variance) {
    x_.set_data_handle(const_cast<float*>(x));
    gamma_.set_data_handle(const_cast<float*>(gamma));
    beta_.set_data_handle(const_cast<float*>(beta));
    y_.set_data_handle(y);
    mean_.set_data_handle(mean);
    variance_.set_data_handle(variance);
    forward_.execute(stream, {{DNNL_ARG_SRC, x_}, {DNNL_ARG_SCALE, gamma_}, {DNNL_ARG_SHIFT, beta_}, {DNNL_ARG_DST, y_},
                              {DNNL_ARG_MEAN, mean_}, {DNNL_ARG_VARIANCE, variance_}});
}

void LayerNormTrain::backward(dnnl::stream& stream, const float* dy, const float* x, const float* mean,
                              const float* variance, const float* gamma, const float* beta, float* dx, float* dgamma,
                              float* dbeta) {
    dy_.set_data_handle(const_cast<float*>(dy));
    x_.set_data_handle(const_cast<float*>(x));
    mean_.set_data_handle(const_cast<float*>(mean));
    variance_.set_data_handle(const_cast<float*>(variance));
    gamma_.set_data_handle(const_cast<float*>(gamma));
    beta_.set_data_handle(const_cast<float*>(beta));
    dx_.set_data_handle(dx);
    dgamma_.set_data_handle(dgamma);
    dbeta_.set_data_handle(dbeta);
    backward_.execute(stream, {{DNNL_ARG_SRC, x_}, {DNNL_ARG_MEAN, mean_}, {DNNL_ARG_VARIANCE, variance_},
                               {DNNL_ARG_DIFF_DST, dy_}, {DNNL_ARG_SCALE, gamma_}, {DNNL_ARG_SHIFT, beta_},
                               {DNNL_ARG_DIFF_SRC, dx_}, {DNNL_ARG_DIFF_SCALE, dgamma_}, {DNNL_ARG_DIFF_SHIFT, dbeta_}});
}

std::vector<std::string> LayerNormTrain::implementations() const {
    return {"layer norm forward: " + forward_impl_, "layer norm backward: " + backward_impl_};
}

}  // namespace vitc::runtime
