#include "runtime/linear_train.hpp"

#include <algorithm>

#include "errors.hpp"

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

LinearTrain::LinearTrain(int64_t rows, int64_t in, int64_t out, bool accumulate, Precision precision)
    : rows_(rows), in_(in), out_(out), bf16_(precision == Precision::BF16) {
    const auto& engine = cpu_engine();
    const data_type t = bf16_ ? data_type::bf16 : data_type::f32;  // the matmul operands
    const auto x = plain_desc({rows, in}, t), y = plain_desc({rows, out}), bias = plain_desc({1, out});
    const auto w_t = strided_desc({in, out}, {1, in}, t);      // W [out, in] read as W^T [in, out]
    const auto w = plain_desc({out, in}, t);
    const auto dy = plain_desc({rows, out}, t);
    const auto dy_t = strided_desc({out, rows}, {1, out}, t);  // dy [rows, out] read as dy^T
    const auto fwd = matmul_pd(x, w_t, y, &bias, accumulate);
    const auto data = matmul_pd(dy, w, plain_desc({rows, in}));
    const auto weights = matmul_pd(dy_t, x, plain_desc({out, in}));
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
    dy_ = dnnl::memory(dy, engine, nullptr);
    w_plain_ = dnnl::memory(w, engine, nullptr);
    dx_ = dnnl::memory(plain_desc({rows, in}), engine, nullptr);
    dy_t_ = dnnl::memory(dy_t, engine, nullptr);
    x_src_ = dnnl::memory(x, engine, nullptr);
    dw_ = dnnl::memory(plain_desc({out, in}), engine, nullptr);
    if (bf16_) {
        x_to_bf16_ = ToBF16({rows, in});
        dy_to_bf16_ = ToBF16({rows, out});
        w_to_bf16_ = ToBF16({out, in});
        dy_bf16_.resize(rows * out);
    }
}

void LinearTrain::forward(dnnl::stream& stream, const float* x, const float* W, const float* b, float* y) {
    if (bf16_) throw Error("internal: f32 LinearTrain::forward on a bf16 layer");
    run_forward(stream, x, W, b, y);
}

void LinearTrain::backward(dnnl::stream& stream, const float* dy, const float* x, const float* W, float* dx,
                           float* dW, float* db) {
    if (bf16_) throw Error("internal: f32 LinearTrain::backward on a bf16 layer");
    run_backward(stream, dy, x, W, dx, dW);
    column_sums(dy, db);
    stream.wait();
}

void LinearTrain::convert_weights(dnnl::stream& stream, const float* W, bfloat16* Wb) {
    if (!bf16_) throw Error("internal: LinearTrain::convert_weights on an f32 layer");
    w_to_bf16_.run(stream, W, Wb);
}

void LinearTrain::forward(dnnl::stream& stream, const float* x, bfloat16* xb, const bfloat16* Wb, const float* b,
                          float* y) {
    if (!bf16_) throw Error("internal: bf16 LinearTrain::forward on an f32 layer");
    x_to_bf16_.run(stream, x, xb);
    run_forward(stream, xb, Wb, b, y);
}

// y (+)= x W^T + b on operands of the layer's type.
void LinearTrain::run_forward(dnnl::stream& stream, const void* x, const void* W, const float* b, float* y) {
    x_.set_data_handle(const_cast<void*>(x));
    w_.set_data_handle(const_cast<void*>(W));
    b_.set_data_handle(const_cast<float*>(b));
    y_.set_data_handle(y);
    forward_.execute(stream, {{DNNL_ARG_SRC, x_}, {DNNL_ARG_WEIGHTS, w_}, {DNNL_ARG_BIAS, b_}, {DNNL_ARG_DST, y_}});
}

void LinearTrain::backward(dnnl::stream& stream, const float* dy, const bfloat16* xb, const bfloat16* Wb, float* dx,
                           float* dW, float* db) {
    if (!bf16_) throw Error("internal: bf16 LinearTrain::backward on an f32 layer");
    dy_to_bf16_.run(stream, dy, dy_bf16_.data());
    run_backward(stream, dy_bf16_.data(), xb, Wb, dx, dW);
    column_sums(dy, db);
    stream.wait();
}

// dx = dy W (unless dx is null), dW = dy^T x, on operands of the layer's type.
void LinearTrain::run_backward(dnnl::stream& stream, const void* dy, const void* x, const void* W, float* dx,
                               float* dW) {
    if (dx) {
        dy_.set_data_handle(const_cast<void*>(dy));
        w_plain_.set_data_handle(const_cast<void*>(W));
        dx_.set_data_handle(dx);
        backward_data_.execute(stream, {{DNNL_ARG_SRC, dy_}, {DNNL_ARG_WEIGHTS, w_plain_}, {DNNL_ARG_DST, dx_}});
    }
    dy_t_.set_data_handle(const_cast<void*>(dy));
    x_src_.set_data_handle(const_cast<void*>(x));
    dw_.set_data_handle(dW);
    backward_weights_.execute(stream, {{DNNL_ARG_SRC, dy_t_}, {DNNL_ARG_WEIGHTS, x_src_}, {DNNL_ARG_DST, dw_}});
}

// db: rows are summed in order, so the result does not depend on the thread count.
void LinearTrain::column_sums(const float* dy, float* db) const {
    std::fill(db, db + out_, 0.0f);
    for (int64_t r = 0; r < rows_; ++r) {
        const float* row = dy + r * out_;
#pragma omp simd
        for (int64_t o = 0; o < out_; ++o) db[o] += row[o];
    }
}

std::vector<std::string> LinearTrain::implementations() const {
    std::vector<std::string> all = {"linear forward: " + forward_impl_, "linear backward data: " + data_impl_,
                                    "linear backward weights: " + weights_impl_};
    if (bf16_)
        for (const auto* c : {&x_to_bf16_, &dy_to_bf16_, &w_to_bf16_}) all.push_back("linear " + c->implementation());
    return all;
}

}  // namespace vitc::runtime
