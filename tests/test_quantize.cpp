// int8: per-row weight quantisation, the run-time activation quantiser, and a Linear layer in
// int8 against a float64 reference, within the error bound that follows from the rounding.
#include <catch2/catch.hpp>
#include <cmath>
#include <limits>
#include <random>
#include <thread>

#include "models/standard_vits.hpp"
#include "runtime/linear.hpp"
#include "runtime/quantize.hpp"

using namespace vitc;
using namespace vitc::runtime;
using dt = dnnl::memory::data_type;

namespace {

dnnl::memory filled(const std::vector<float>& values, const dims& shape) { return copy_to_memory(values, shape); }

const float* data(const dnnl::memory& m) { return static_cast<const float*>(m.get_data_handle()); }

float gelu(double x) { return static_cast<float>(0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0)))); }

}  // namespace

TEST_CASE("quantize_rows: one scale per output row, round to nearest even, zero rows stay zero", "[int8]") {
    const Tensor w{{3, 3}, {1.0f, -0.5f, 0.25f, 0, 0, 0, -254.0f, 127.0f, 1.0f}};
    const RowQuantized q = quantize_rows(w);
    REQUIRE(q.scales.size() == 3);
    CHECK(q.scales[0] == Approx(1.0f / 127));
    CHECK(q.scales[1] == 1.0f);
    CHECK(q.scales[2] == 2.0f);
    // -0.5 * 127 = -63.5 -> -64 and 0.25 * 127 = 31.75 -> 32; 127 / 2 = 63.5 -> 64, 1 / 2 -> 0.
    const std::vector<int8_t> expected = {127, -64, 32, 0, 0, 0, -127, 64, 0};
    CHECK(q.values == expected);
}

TEST_CASE("quantize_rows: infinities saturate and NaN becomes 0 (a hostile model file must not crash)", "[int8]") {
    const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
    const Tensor w{{2, 3}, {inf, -2.0f, nan, nan, nan, -inf}};
    const RowQuantized q = quantize_rows(w);
    CHECK(q.scales[0] == Approx(2.0f / 127));
    CHECK(q.scales[1] == 1.0f);
    const std::vector<int8_t> expected = {127, -127, 0, 0, 0, -127};
    CHECK(q.values == expected);
}

TEST_CASE("quantize_rows: a denormal row quantises to 0 with scale 1, never 0/0", "[int8]") {
    const float tiny = std::numeric_limits<float>::denorm_min(), small = 1e-37f;
    const Tensor w{{2, 2}, {tiny, 0.0f, small, -small}};
    const RowQuantized q = quantize_rows(w);
    CHECK(q.scales == std::vector<float>{1.0f, 1.0f});
    CHECK(q.values == std::vector<int8_t>{0, 0, 0, 0});
}

TEST_CASE("DynamicQuantizer: a NaN or infinite input gives a NaN scale, so the layer's output is NaN as in f32",
          "[int8]") {
    for (float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity()}) {
        std::vector<float> x(200, 0.5f);
        x[17] = bad;
        const auto source = copy_to_memory(x, {10, 20});
        DynamicQuantizer quantizer(source.get_desc());
        dnnl::stream stream(cpu_engine());
        CHECK(std::isnan(quantizer.run(stream, source)));
    }
}

TEST_CASE("max_abs finds the largest magnitude on the thread team and on one thread", "[int8]") {
    std::mt19937 rng(3);
    for (int64_t n : {int64_t{5}, int64_t{300001}}) {
        Tensor t = random_tensor({n}, rng, 1.0f);
        t.values[static_cast<size_t>(n * 2 / 3)] = -9.5f;
        CHECK(max_abs(t.values.data(), n) == 9.5f);
        t.values[1] = std::numeric_limits<float>::quiet_NaN();
        CHECK(std::isnan(max_abs(t.values.data(), n)));
    }
}

TEST_CASE("max_abs from several threads at once (each starts its own OpenMP team)", "[int8]") {
    std::mt19937 rng(8);
    Tensor t = random_tensor({400000}, rng, 1.0f);
    t.values[123456] = 42.0f;
    std::vector<float> found(4, 0.0f);
    std::vector<std::thread> threads;
    for (size_t i = 0; i < found.size(); ++i)
        threads.emplace_back([&, i] {
            for (int repeat = 0; repeat < 20; ++repeat) found[i] = std::max(found[i], max_abs(t.values.data(), t.numel()));
        });
    for (auto& thread : threads) thread.join();
    CHECK(found == std::vector<float>(4, 42.0f));
}

TEST_CASE("DynamicQuantizer: s = max|x| / 127 and q = round(x / s)", "[int8]") {
    std::mt19937 rng(4);
    const Tensor x = random_tensor({33, 70}, rng, 2.0f, 0.3f);
    const auto source = filled(x.values, {33, 70});
    DynamicQuantizer quantizer(source.get_desc());
    dnnl::stream stream(cpu_engine());
    const float s = quantizer.run(stream, source);
    stream.wait();
    CHECK(s == max_abs(x.values.data(), x.numel()) / 127.0f);
    const auto* q = static_cast<const int8_t*>(quantizer.output().get_data_handle());
    int mismatches = 0, at_limit = 0;
    for (size_t i = 0; i < x.values.size(); ++i) {
        mismatches += q[i] != static_cast<int>(std::nearbyint(x.values[i] * (1.0f / s)));
        at_limit += std::abs(q[i]) == 127;
    }
    CHECK(mismatches == 0);
    CHECK(at_limit >= 1);
}

TEST_CASE("int8 Linear layer: within the rounding bound of a float64 reference", "[int8]") {
    // x ~ s qx with |x - s qx| <= s/2 and W[n] ~ w_n qw with |W[n] - w_n qw| <= w_n/2, so
    //   |x.W[n] - s w_n qx.qw| <= sum_k |x_k| w_n/2 + |W[n][k]| s/2 + s w_n/4.
    // GELU's slope is at most 1.13. The bias (large here, to expose a bias applied at the wrong
    // scale) adds no error.
    const int64_t rows = 37, in = 70, out = 45;
    std::mt19937 rng(5);
    const Tensor x = random_tensor({rows, in}, rng, 1.5f, 0.2f);
    const Tensor w = random_tensor({out, in}, rng, 0.3f);
    const Tensor b = random_tensor({out}, rng, 20.0f);
    const Tensor residual = random_tensor({rows, out}, rng, 1.0f);
    const LinearWeights weights = prepare_linear(w, b, dt::s8);
    REQUIRE(weights.channel_scales.size() == static_cast<size_t>(out));
    const float s = max_abs(x.values.data(), x.numel()) / 127.0f;

    enum class Tail { None, Gelu, Residual };
    for (Tail tail : {Tail::None, Tail::Gelu, Tail::Residual}) {
        DYNAMIC_SECTION("post-op " << static_cast<int>(tail)) {
            dnnl::post_ops ops;
            if (tail == Tail::Gelu) ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_gelu_erf, 0.0f, 0.0f);
            if (tail == Tail::Residual) ops.append_sum(1.0f);
            LinearLayer layer(rows, weights, ops);
            REQUIRE(layer.input_type() == dt::f32);
            const auto src = filled(x.values, {rows, in});
            const auto dst = filled(tail == Tail::Residual ? residual.values : std::vector<float>(rows * out, 0.0f),
                                    {rows, out});
            dnnl::memory scratchpad(plain_desc({static_cast<int64_t>(layer.scratchpad_bytes()) + 1}, dt::u8),
                                    cpu_engine());
            dnnl::stream stream(cpu_engine());
            layer.run(stream, src, weights, dst, scratchpad);
            stream.wait();

            double worst_ratio = 0;
            for (int64_t m = 0; m < rows; ++m)
                for (int64_t n = 0; n < out; ++n) {
                    double exact = b.values[n], bound = 0;
                    const float wn = weights.channel_scales[n];
                    for (int64_t k = 0; k < in; ++k) {
                        const double xv = x.values[m * in + k], wv = w.values[n * in + k];
                        exact += xv * wv;
                        bound += std::abs(xv) * wn / 2 + std::abs(wv) * s / 2 + s * wn / 4.0;
                    }
                    double expected = exact;
                    if (tail == Tail::Gelu) {
                        expected = gelu(exact);
                        bound *= 1.13;
                    }
                    if (tail == Tail::Residual) expected += residual.values[m * out + n];
                    bound += 1e-5 * (1 + std::abs(expected));  // f32 arithmetic
                    const double error = std::abs(data(dst)[m * out + n] - expected);
                    worst_ratio = std::max(worst_ratio, error / bound);
                }
            INFO("largest error as a fraction of its bound: " << worst_ratio);
            CHECK(worst_ratio <= 1.0);
            CHECK(worst_ratio > 0.01);  // the rounding is really there
        }
    }
}

TEST_CASE("f32 and bf16 Linear layers match a float64 reference", "[linear]") {
    const int64_t rows = 19, in = 48, out = 33;
    std::mt19937 rng(6);
    const Tensor x = random_tensor({rows, in}, rng, 1.0f), w = random_tensor({out, in}, rng, 0.3f),
                 b = random_tensor({out}, rng, 1.0f);
    for (dt type : {dt::f32, dt::bf16}) {
        DYNAMIC_SECTION((type == dt::f32 ? "f32" : "bf16")) {
            const LinearWeights weights = prepare_linear(w, b, type);
            LinearLayer layer(rows, weights);
            REQUIRE(layer.input_type() == type);
            dnnl::memory src_f32 = filled(x.values, {rows, in});
            dnnl::memory src(plain_desc({rows, in}, type), cpu_engine());
            dnnl::stream stream(cpu_engine());
            dnnl::reorder(src_f32, src).execute(stream, src_f32, src);
            dnnl::memory dst(plain_desc({rows, out}), cpu_engine());
            dnnl::memory scratchpad(plain_desc({static_cast<int64_t>(layer.scratchpad_bytes()) + 1}, dt::u8),
                                    cpu_engine());
            layer.run(stream, src, weights, dst, scratchpad);
            stream.wait();
            double max_error = 0;
            for (int64_t m = 0; m < rows; ++m)
                for (int64_t n = 0; n < out; ++n) {
                    double exact = b.values[n];
                    for (int64_t k = 0; k < in; ++k) exact += double(x.values[m * in + k]) * w.values[n * in + k];
                    max_error = std::max(max_error, std::abs(data(dst)[m * out + n] - exact));
                }
            // bf16 rounds x and W to 8 significant bits: relative 2^-9 each, over 48 products of size ~0.3.
            CHECK(max_error <= (type == dt::f32 ? 1e-5 : 0.05));
        }
    }
}

TEST_CASE("Linear layers get oneDNN's optimised kernels, not its reference ones", "[linear]") {
    // oneDNN silently falls back to slow reference code for unsupported combinations, such as an
    // s8 matmul with a bf16 output or a binary post-op before the sum: ref_int8 took 290 ms for
    // one ViT-Ti QKV matmul (394 x 192 x 576) here, hundreds of times its gemm kernel's time.
    std::mt19937 rng(7);
    const Tensor w = random_tensor({96, 64}, rng, 0.3f), b = random_tensor({96}, rng, 1.0f);
    for (dt type : {dt::f32, dt::bf16, dt::s8}) {
        const LinearWeights weights = prepare_linear(w, b, type);
        for (int tail = 0; tail < 3; ++tail) {
            dnnl::post_ops ops;
            if (tail == 1) ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_gelu_erf, 0.0f, 0.0f);
            if (tail == 2) ops.append_sum(1.0f);
            for (int64_t rows : {1, 197}) {
                const LinearLayer layer(rows, weights, ops, type == dt::bf16 && tail != 2 ? dt::bf16 : dt::f32);
                INFO("type " << static_cast<int>(type) << ", post-op " << tail << ", rows " << rows << ": "
                             << layer.implementation());
                CHECK(layer.implementation().find("ref") == std::string::npos);
            }
        }
    }
}
