#include "runtime/batch_norm_train.hpp"

namespace vitc::runtime {

BatchNormTrain::BatchNormTrain(int64_t batch, int64_t channels, int64_t height, int64_t width, bool relu, float eps)
    : channels_(channels), values_per_channel_(batch * height * width) {
    using flags = dnnl::normalization_flags;
    using bn_fwd = dnnl::batch_normalization_forward;
    using bn_bwd = dnnl::batch_normalization_backward;
    const auto& engine = cpu_engine();
    // NHWC; at exactly 16 channels described as nChw16c, the same bytes, for which oneDNN's kernels
    // are faster (backward alone at batch 128, 28x28, data in cache: 2.2x on one thread, 1.5x on two).
    using tag = dnnl::memory::format_tag;
    const dnnl::memory::desc data({batch, channels, height, width}, data_type::f32,
                                  channels == 16 ? tag::nChw16c : tag::nhwc);
    const auto param = plain_desc({channels});
    const flags affine = flags::use_scale | flags::use_shift | (relu ? flags::fuse_norm_relu : flags::none);
    const auto training = bn_fwd::primitive_desc(bn_fwd::desc(dnnl::prop_kind::forward_training, data, eps, affine), engine);
    const auto inference = bn_fwd::primitive_desc(
        bn_fwd::desc(dnnl::prop_kind::forward_inference, data, eps, affine | flags::use_global_stats), engine);
    const auto backward =
        bn_bwd::primitive_desc(bn_bwd::desc(dnnl::prop_kind::backward, data, data, eps, affine), engine, training);
    training_ = bn_fwd(training);
    inference_ = bn_fwd(inference);
    backward_ = bn_bwd(backward);
    training_impl_ = training.impl_info_str();
    inference_impl_ = inference.impl_info_str();
    backward_impl_ = backward.impl_info_str();
    if (relu) {
        workspace_bytes_ = training.workspace_desc().get_size();
        workspace_ = dnnl::memory(training.workspace_desc(), engine, nullptr);
    }
    for (dnnl::memory* m : {&x_, &y_, &dy_, &dx_}) *m = dnnl::memory(data, engine, nullptr);
    for (dnnl::memory* m : {&gamma_, &beta_, &dgamma_, &dbeta_, &mean_, &var_}) *m = dnnl::memory(param, engine, nullptr);
}

void BatchNormTrain::forward_training(dnnl::stream& stream, const float* x, const float* gamma, const float* beta,
                                      float* y, float* mean, float* var, void* workspace) {
    x_.set_data_handle(const_cast<float*>(x));
    gamma_.set_data_handle(const_cast<float*>(gamma));
    beta_.set_data_handle(const_cast<float*>(beta));
    y_.set_data_handle(y);
    mean_.set_data_handle(mean);
    var_.set_data_handle(var);
    Args args{{DNNL_ARG_SRC, x_}, {DNNL_ARG_SCALE, gamma_}, {DNNL_ARG_SHIFT, beta_},
              {DNNL_ARG_DST, y_}, {DNNL_ARG_MEAN, mean_},   {DNNL_ARG_VARIANCE, var_}};
    if (workspace_bytes_) {
        workspace_.set_data_handle(workspace);
        args.emplace(DNNL_ARG_WORKSPACE, workspace_);
    }
    training_.execute(stream, args);
}

void BatchNormTrain::forward_inference(dnnl::stream& stream, const float* x, const float* gamma, const float* beta,
                                       const float* running_mean, const float* running_var, float* y) {
    x_.set_data_handle(const_cast<float*>(x));
    gamma_.set_data_handle(const_cast<float*>(gamma));
    beta_.set_data_handle(const_cast<float*>(beta));
    mean_.set_data_handle(const_cast<float*>(running_mean));
    var_.set_data_handle(const_cast<float*>(running_var));
    y_.set_data_handle(y);
    inference_.execute(stream, {{DNNL_ARG_SRC, x_}, {DNNL_ARG_SCALE, gamma_}, {DNNL_ARG_SHIFT, beta_},
                                {DNNL_ARG_MEAN, mean_}, {DNNL_ARG_VARIANCE, var_}, {DNNL_ARG_DST, y_}});
}

void BatchNormTrain::backward(dnnl::stream& stream, const float* dy, const float* x, const float* mean,
                              const float* var, const float* gamma, const float* beta, const void* workspace,
                              float* dx, float* dgamma, float* dbeta) {
    dy_.set_data_handle(const_cast<float*>(dy));
    x_.set_data_handle(const_cast<float*>(x));
    mean_.set_data_handle(const_cast<float*>(mean));
    var_.set_data_handle(const_cast<float*>(var));
    gamma_.set_data_handle(const_cast<float*>(gamma));
    beta_.set_data_handle(const_cast<float*>(beta));
    dx_.set_data_handle(dx);
    dgamma_.set_data_handle(dgamma);
    dbeta_.set_data_handle(dbeta);
    Args args{{DNNL_ARG_SRC, x_},         {DNNL_ARG_MEAN, mean_},        {DNNL_ARG_VARIANCE, var_},
              {DNNL_ARG_DIFF_DST, dy_},   {DNNL_ARG_SCALE, gamma_},      {DNNL_ARG_SHIFT, beta_},
              {DNNL_ARG_DIFF_SRC, dx_},   {DNNL_ARG_DIFF_SCALE, dgamma_}, {DNNL_ARG_DIFF_SHIFT, dbeta_}};
    if (workspace_bytes_) {
        workspace_.set_data_handle(const_cast<void*>(workspace));
        args.emplace(DNNL_ARG_WORKSPACE, workspace_);
    }
    backward_.execute(stream, args);
}

void BatchNormTrain::update_running(const float* mean, const float* var, float* running_mean,
                                    float* running_var) const {
    const float m = kBatchNormMomentum, n = static_cast<float>(values_per_channel_);
    const float unbiased = values_per_channel_ > 1 ? n / (n - 1.0f) : 1.0f;
    for (int64_t c = 0; c < channels_; ++c) {
        running_mean[c] = (1.0f - m) * running_mean[c] + m * mean[c];
        running_var[c] = (1.0f - m) * running_var[c] + m * var[c] * unbiased;
    }
}

std::vector<std::string> BatchNormTrain::implementations() const {
    return {"batch norm forward training: " + training_impl_, "batch norm forward inference: " + inference_impl_,
            "batch norm backward: " + backward_impl_};
}

}  // namespace vitc::runtime
