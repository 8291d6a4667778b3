#include "runtime/linear_train.hpp"

#include <algorithm>

namespace vitc::runtime {

namespace {

dnnl::matmul::primitive_desc matmul_pd(const dnnl::memory::desc& a, const dnnl::memory::desc& b,
                                       const dnnl::memory::desc& c, const dnnl::memory::desc* bias = nullptr,
                                       bool accumulate = false) {
    dnnl::post_ops ops;
    if (accumulate) ops.append_sum(1.0f);
    dnnl::primitive_attr attr;
    attr.set_post_ops(ops);
    const auto& engine = cpu_engine();
    if (bias) return dnnl::matmul::primitive_desc(dnnl::matmul::desc(a, b, *bias, c), attr, engine);
    return dnnl::matmul::primitive_desc(dnnl::matmul::desc(a, b, c), attr, engine);
}

}  // namespace

LinearTrain::LinearTrain(int64_t rows, int64_t in, int64_t out, bool accumulate) : rows_(rows), in_(in), out_(out) {
    const auto& engine = cpu_engine();
    const auto x = plain_desc({rows, in}), y = plain_desc({rows, out}), bias = plain_desc({1, out});
    const auto w_t = strided_desc({in, out}, {1, in});       // W [out, in] read as W^T [in, out]
    const auto w = plain_desc({out, in});
    const auto dy_t = strided_desc({out, rows}, {1, out});   // dy [rows, out] read as dy^T
    const auto fwd = matmul_pd(x, w_t, y, &bias, accumulate);
    const auto data = matmul_pd(y, w, x);
    const auto weights = matmul_pd(dy_t, x, w);
    forward_ = dnnl::matmul(fwd);
    backward_data_ = dnnl::matmul(data);
    backward_weights_ = dnnl::matmul(weights);
    forward_impl_ = fwd.impl_info_str();
    data_impl_ = data.impl_info_str();
    weights_impl_ = weights.impl_info_str();
    x_ = dnnl::memory(x, engine, nullptr);
    w_ = dnnl::memory(w_t, engine, nullptr);
    b_ = dnnl::memory(bias, engine, nullptr);
    y_ = dnnl::memory(y, engine, nullptr);
    dy_ = dnnl::memory(y, engine, nullptr);
    w_plain_ = dnnl::memory(w, engine, nullptr);
    dx_ = dnnl::memory(x, engine, nullptr);
    dy_t_ = dnnl::memory(dy_t, engine, nullptr);
    x_src_ = dnnl::memory(x, engine, nullptr);
    dw_ = dnnl::memory(w, engine, nullptr);
}

void LinearTrain::forward(dnnl::stream& stream, const float* x, const float* W, const float* b, float* y) {
    x_.set_data_handle(const_cast<float*>(x));
    w_.set_data_handle(const_cast<float*>(W));
    b_.set_data_handle(const_cast<float*>(b));
    y_.set_data_handle(y);
    forward_.execute(stream, {{DNNL_ARG_SRC, x_}, {DNNL_ARG_WEIGHTS, w_}, {DNNL_ARG_BIAS, b_}, {DNNL_ARG_DST, y_}});
}

void LinearTrain::backward(dnnl::stream& stream, const float* dy, const float* x, const float* W, float* dx,
                           float* dW, float* db) {
    if (dx) {
        dy_.set_data_handle(const_cast<float*>(dy));
        w_plain_.set_data_handle(const_cast<float*>(W));
        dx_.set_data_handle(dx);
        backward_data_.execute(stream, {{DNNL_ARG_SRC, dy_}, {DNNL_ARG_WEIGHTS, w_plain_}, {DNNL_ARG_DST, dx_}});
    }
    dy_t_.set_data_handle(const_cast<float*>(dy));
    x_src_.set_data_handle(const_cast<float*>(x));
    dw_.set_data_handle(dW);
    backward_weights_.execute(stream, {{DNNL_ARG_SRC, dy_t_}, {DNNL_ARG_WEIGHTS, x_src_}, {DNNL_ARG_DST, dw_}});
    // db: rows are summed in order, so the result does not depend on the thread count.
    std::fill(db, db + out_, 0.0f);
    for (int64_t r = 0; r < rows_; ++r) {
        const float* row = dy + r * out_;
#pragma omp simd
        for (int64_t o = 0; o < out_; ++o) db[o] += row[o];
    }
    stream.wait();
}

std::vector<std::string> LinearTrain::implementations() const {
    return {"linear forward: " + forward_impl_, "linear backward data: " + data_impl_,
            "linear backward weights: " + weights_impl_};
}

}  // namespace vitc::runtime
