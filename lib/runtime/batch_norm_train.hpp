#pragma once
// BatchNorm2d for training, on oneDNN, with an optional ReLU fused in (as every BatchNorm of a
// ResNet but the last of each block is followed by one):
//   y = (x - mean_c) / sqrt(var_c + eps) * gamma_c + beta_c   [then max(y, 0)]
//   x, y [N, H, W, C] channels-last; gamma, beta, mean, var [C]
//
// Train: mean and var are the batch's, over N*H*W values per channel (var biased, 1/n, as
// PyTorch normalises with); forward_training writes them for backward, and the ReLU's mask into
// a workspace. Backward gives dx, dgamma and dbeta (and goes through the fused ReLU first).
// Eval: forward_inference with the running statistics (use_global_stats).
//
// The running statistics follow PyTorch's BatchNorm2d (momentum 0.1), which uses the UNBIASED
// batch variance there, n / (n - 1) times oneDNN's:
//   running_mean = (1 - m) running_mean + m mean
//   running_var  = (1 - m) running_var  + m var n / (n - 1)
#include <cstdint>
#include <string>
#include <vector>

#include "runtime/dnnl_helpers.hpp"

namespace vitc::runtime {

constexpr float kBatchNormMomentum = 0.1f;  // torch.nn.BatchNorm2d's default

class BatchNormTrain {
public:
    BatchNormTrain() = default;
    BatchNormTrain(int64_t batch, int64_t channels, int64_t height, int64_t width, bool relu, float eps = 1e-5f);

    int64_t channels() const { return channels_; }
    int64_t values_per_channel() const { return values_per_channel_; }  // n = N*H*W
    size_t workspace_bytes() const { return workspace_bytes_; }          // the ReLU mask (0 without ReLU)

    // Batch statistics: y; mean, var [C] and workspace (workspace_bytes()) are written for backward.
    void forward_training(dnnl::stream& stream, const float* x, const float* gamma, const float* beta, float* y,
                          float* mean, float* var, void* workspace);
    // Running statistics; nothing kept.
    void forward_inference(dnnl::stream& stream, const float* x, const float* gamma, const float* beta,
                           const float* running_mean, const float* running_var, float* y);
    // dx [N, H, W, C], dgamma, dbeta [C], written; dy is the gradient of the (ReLU's) output.
    void backward(dnnl::stream& stream, const float* dy, const float* x, const float* mean, const float* var,
                  const float* gamma, const float* beta, const void* workspace, float* dx, float* dgamma,
                  float* dbeta);
    // PyTorch's running-average update (above) from a forward_training's batch statistics.
    void update_running(const float* mean, const float* var, float* running_mean, float* running_var) const;

    std::vector<std::string> implementations() const;

private:
    int64_t channels_ = 0, values_per_channel_ = 0;
    size_t workspace_bytes_ = 0;
    dnnl::batch_normalization_forward training_, inference_;
    dnnl::batch_normalization_backward backward_;
    std::string training_impl_, inference_impl_, backward_impl_;
    dnnl::memory x_, y_, dy_, dx_, gamma_, beta_, dgamma_, dbeta_, mean_, var_, workspace_;
};

}  // namespace vitc::runtime
