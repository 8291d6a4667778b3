#pragma once
// Max pooling for training (the ImageNet ResNet stem's 3x3, stride 2, padding 1), on oneDNN:
//   y [N, Ho, Wo, C] = max over each window of x [N, H, W, C] (padding never wins), channels-last
// forward_training records which input won each window in a workspace; backward sends dy there.
#include <cstdint>
#include <string>
#include <vector>

#include "runtime/dnnl_helpers.hpp"

namespace vitc::runtime {

class MaxPoolTrain {
public:
    MaxPoolTrain() = default;
    MaxPoolTrain(int64_t batch, int64_t channels, int64_t height, int64_t width, int64_t kernel, int64_t stride,
                 int64_t padding);

    int64_t out_height() const { return out_height_; }
    int64_t out_width() const { return out_width_; }
    size_t workspace_bytes() const { return workspace_bytes_; }

    // Train: the workspace (workspace_bytes()) is written for backward; Eval: it may be null.
    void forward(dnnl::stream& stream, const float* x, float* y, void* workspace);
    // dx [N, H, W, C] written (zero where no window's maximum was).
    void backward(dnnl::stream& stream, const float* dy, const void* workspace, float* dx);

    std::vector<std::string> implementations() const;

private:
    int64_t out_height_ = 0, out_width_ = 0;
    size_t workspace_bytes_ = 0;
    dnnl::pooling_forward training_, inference_;
    dnnl::pooling_backward backward_;
    std::string training_impl_, backward_impl_;
    dnnl::memory x_, y_, dy_, dx_, workspace_;
};

}  // namespace vitc::runtime
