// The tiled (flash) attention kernel against a naive double-precision reference, forward and
// backward, against PyTorch's gradients (tests/data/attention, scripts/make_attention_fixture.py),
// against the full-matrix training attention, and at a token count whose score matrix would not
// fit in the memory the test allows.
#include <sys/resource.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <fstream>
#include <random>
#include <tuple>
#include <vector>

#include "io/safetensors.hpp"
#include "runtime/attention_train.hpp"
#include "runtime/tiled_attention.hpp"
#include "tasks/benchmark.hpp"

using namespace vitc;
using namespace vitc::runtime;

namespace {

// Q, K, V, dO as plain [N, H, T, Dh] tensors, random.
struct Problem {
    AttentionShape shape;
    std::vector<float> q, k, v, dout;
    explicit Problem(AttentionShape s, uint32_t seed = 1, float spread = 1.5f) : shape(s) {
        std::mt19937 rng(seed);
        std::normal_distribution<float> normal(0.0f, spread);
        const size_t n = static_cast<size_t>(s.images * s.heads * s.tokens * s.head_dim);
        for (auto* x : {&q, &k, &v, &dout}) {
            x->resize(n);
            for (float& value : *x) value = normal(rng);
        }
    }
    size_t size() const { return q.size(); }
    template <typename E>
    HeadsView<E> view(E* data) const {
        return {data, shape.heads * shape.tokens * shape.head_dim, shape.tokens * shape.head_dim, shape.head_dim};
    }
};

// The reference: per (image, head) the full [T, T] matrices in double.
struct Reference {
    std::vector<double> out, lse, dq, dk, dv;
};
Reference naive_attention(const Problem& p) {
    const int64_t T = p.shape.tokens, Dh = p.shape.head_dim;
    const double scale = 1.0 / std::sqrt(static_cast<double>(Dh));
    Reference r;
    r.out.assign(p.size(), 0);
    r.dq.assign(p.size(), 0);
    r.dk.assign(p.size(), 0);
    r.dv.assign(p.size(), 0);
    std::vector<double> P(T * T), dP(T * T);
    for (int64_t nh = 0; nh < p.shape.images * p.shape.heads; ++nh) {
        const int64_t base = nh * T * Dh;
        auto at = [&](const std::vector<float>& x, int64_t t, int64_t d) { return static_cast<double>(x[base + t * Dh + d]); };
        for (int64_t i = 0; i < T; ++i) {
            double m = -INFINITY;
            for (int64_t j = 0; j < T; ++j) {
                double s = 0;
                for (int64_t d = 0; d < Dh; ++d) s += at(p.q, i, d) * at(p.k, j, d);
                P[i * T + j] = p.shape.exclude_self && i == j ? -INFINITY : s * scale;
                m = std::max(m, P[i * T + j]);
            }
            double sum = 0;
            for (int64_t j = 0; j < T; ++j) sum += std::exp(P[i * T + j] - m);
            for (int64_t j = 0; j < T; ++j) P[i * T + j] = std::exp(P[i * T + j] - m) / sum;
            r.lse.push_back(m + std::log(sum));
            for (int64_t d = 0; d < Dh; ++d)
                for (int64_t j = 0; j < T; ++j) r.out[base + i * Dh + d] += P[i * T + j] * at(p.v, j, d);
        }
        // dP = dO V^T; dS = P (dP - sum_j P dP); dQ = dS K scale; dK = dS^T Q scale; dV = P^T dO.
        for (int64_t i = 0; i < T; ++i) {
            double row = 0;
            for (int64_t j = 0; j < T; ++j) {
                double s = 0;
                for (int64_t d = 0; d < Dh; ++d) s += at(p.dout, i, d) * at(p.v, j, d);
                dP[i * T + j] = s;
                row += P[i * T + j] * s;
            }
            for (int64_t j = 0; j < T; ++j) dP[i * T + j] = P[i * T + j] * (dP[i * T + j] - row);
        }
        for (int64_t i = 0; i < T; ++i)
            for (int64_t j = 0; j < T; ++j)
                for (int64_t d = 0; d < Dh; ++d) {
                    r.dq[base + i * Dh + d] += dP[i * T + j] * at(p.k, j, d) * scale;
                    r.dk[base + j * Dh + d] += dP[i * T + j] * at(p.q, i, d) * scale;
                    r.dv[base + j * Dh + d] += P[i * T + j] * at(p.dout, i, d);
                }
    }
    return r;
}

// max |got - expected| / (1 + |expected|) with the worst index in the message.
template <typename Got, typename Expected>
double max_error(const std::vector<Got>& got, const std::vector<Expected>& expected, std::string& where) {
    REQUIRE(got.size() == expected.size());
    double worst = 0;
    for (size_t i = 0; i < got.size(); ++i) {
        const double e = std::abs(static_cast<double>(got[i]) - static_cast<double>(expected[i])) /
                         (1.0 + std::abs(static_cast<double>(expected[i])));
        if (!(e <= worst)) {
            worst = e;
            where = "index " + std::to_string(i) + ": got " + std::to_string(got[i]) + ", expected " +
                    std::to_string(expected[i]);
        }
    }
    return worst;
}

constexpr double kF32Tolerance = 1e-5;

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kAddressSanitizer = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kAddressSanitizer = true;
#else
constexpr bool kAddressSanitizer = false;
#endif
#else
constexpr bool kAddressSanitizer = false;
#endif

void check_against_reference(AttentionShape shape, AttentionBlocks blocks) {
    const Problem p(shape);
    const Reference ref = naive_attention(p);
    std::vector<float> out(p.size()), lse(shape.images * shape.heads * shape.tokens), dq(p.size()), dk(p.size()),
        dv(p.size());
    tiled_attention_forward(shape, p.view(p.q.data()), p.view(p.k.data()), p.view(p.v.data()), p.view(out.data()),
                            lse.data(), blocks);
    tiled_attention_backward(shape, p.view(p.q.data()), p.view(p.k.data()), p.view(p.v.data()),
                             p.view(static_cast<const float*>(out.data())), lse.data(), p.view(p.dout.data()),
                             p.view(dq.data()), p.view(dk.data()), p.view(dv.data()), blocks);
    std::string where;
    for (auto [name, got, expected] : {std::tuple{"out", &out, &ref.out}, std::tuple{"lse", &lse, &ref.lse},
                                       std::tuple{"dq", &dq, &ref.dq}, std::tuple{"dk", &dk, &ref.dk},
                                       std::tuple{"dv", &dv, &ref.dv}}) {
        const double e = max_error(*got, *expected, where);
        INFO(name << ": max error " << e << " at " << where);
        CHECK(e <= kF32Tolerance);
    }
}

}  // namespace

TEST_CASE("tiled attention equals the naive reference, forward and backward", "[attention]") {
    SECTION("one token") { check_against_reference({1, 2, 1, 8}, {}); }
    SECTION("token count not a multiple of either block") { check_against_reference({2, 3, 37, 8}, {8, 16}); }
    SECTION("blocks larger than the sequence, one query row per block") { check_against_reference({1, 1, 5, 3}, {1, 64}); }
    SECTION("the default blocks, several key blocks") { check_against_reference({1, 2, 530, 16}, {}); }
    SECTION("head width 64, 200 tokens") { check_against_reference({1, 1, 200, 64}, {64, 48}); }
    // Locality self-attention: the diagonal masked, wherever it falls in the blocks.
    SECTION("without attention to self, uneven blocks") { check_against_reference({2, 3, 37, 8, true}, {8, 16}); }
    SECTION("without attention to self, one key per block (a row's first block all masked)") {
        check_against_reference({1, 2, 6, 4, true}, {2, 1});
    }
    SECTION("without attention to self, the default blocks") { check_against_reference({1, 2, 530, 16, true}, {}); }
}

TEST_CASE("tiled attention on the packed qkv layout matches PyTorch's forward and gradients", "[attention]") {
    const auto io = SafetensorsFile::open(std::string(VITC_TEST_DATA_DIR) + "/attention/backward.safetensors");
    const auto& info = io.info("lse");
    const AttentionShape shape{info.shape[0], info.shape[1], info.shape[2], io.info("qkv").shape[1] / 3 / info.shape[1]};
    const std::vector<float> qkv = io.read_f32("qkv"), dcontext = io.read_f32("dcontext");
    std::vector<float> context(dcontext.size()), lse(info.shape[0] * info.shape[1] * info.shape[2]), dqkv(qkv.size());
    const AttentionBlocks blocks{8, 16};  // T = 29: partial last blocks of both
    tiled_attention_forward_packed(shape, qkv.data(), context.data(), lse.data(), blocks);
    tiled_attention_backward_packed(shape, qkv.data(), context.data(), lse.data(), dcontext.data(), dqkv.data(), blocks);
    std::string where;
    for (auto [name, got] : {std::pair{"context", &context}, std::pair{"lse", &lse}, std::pair{"dqkv", &dqkv}}) {
        const double e = max_error(*got, io.read_f32(name), where);
        INFO(name << ": max error " << e << " at " << where);
        CHECK(e <= kF32Tolerance);
    }
}

TEST_CASE("bf16 tiled attention stays within bf16 rounding of the reference", "[attention][bf16]") {
    const AttentionShape shape{1, 2, 45, 16};
    Problem p(shape);
    auto to_bf16 = [](const std::vector<float>& x) {
        std::vector<bfloat16> y(x.size());
        for (size_t i = 0; i < x.size(); ++i) {
            uint32_t bits;
            std::memcpy(&bits, &x[i], 4);
            y[i].bits = static_cast<uint16_t>((bits + 0x7fff + ((bits >> 16) & 1)) >> 16);
        }
        return y;
    };
    auto to_f32 = [](const std::vector<bfloat16>& x) {
        std::vector<float> y(x.size());
        for (size_t i = 0; i < x.size(); ++i) {
            const uint32_t bits = static_cast<uint32_t>(x[i].bits) << 16;
            std::memcpy(&y[i], &bits, 4);
        }
        return y;
    };
    const auto q = to_bf16(p.q), k = to_bf16(p.k), v = to_bf16(p.v);
    p.q = to_f32(q);  // the reference sees exactly the rounded inputs
    p.k = to_f32(k);
    p.v = to_f32(v);
    const Reference ref = naive_attention(p);
    std::vector<bfloat16> out(p.size());
    std::vector<float> lse(shape.heads * shape.tokens);
    tiled_attention_forward(shape, p.view(q.data()), p.view(k.data()), p.view(v.data()), p.view(out.data()), lse.data(),
                            {16, 16});
    std::string where;
    const double e = max_error(to_f32(out), ref.out, where);
    INFO("max error " << e << " at " << where);
    CHECK(e <= 1.0 / 256);  // the output's own bf16 rounding (8 mantissa bits)
    CHECK(max_error(lse, ref.lse, where) <= kF32Tolerance);  // accumulated in f32
}

TEST_CASE("tiled attention runs 50,176 tokens in memory where the score matrix would take 10 GB", "[attention][memory]") {
    // One 224x224 image with a token per pixel, one head of width 4: the [T, T] scores alone would
    // be 50,176^2 floats = 10.1 GB. The address space is capped at what the process has mapped
    // now plus 1 GiB for the call, so an allocation of the score matrix would fail; the measured
    // peak resident size must grow by far less than that. Under AddressSanitizer (unvectorised,
    // with shadow memory) 20,000 tokens, whose scores (1.6 GB) still exceed the cap.
    const AttentionShape shape{1, 1, kAddressSanitizer ? 20000 : 50176, 4};
    const double max_growth_mb = kAddressSanitizer ? 256 : 64;
    const Problem p(shape, 7, 1.0f);
    std::vector<float> out(p.size()), lse(shape.tokens);

    rlimit saved{};
    REQUIRE(getrlimit(RLIMIT_AS, &saved) == 0);
    std::ifstream status("/proc/self/status");
    std::string key;
    double vm_kb = 0;
    while (status >> key)
        if (key == "VmSize:") status >> vm_kb;
    rlimit capped = saved;
    capped.rlim_cur = static_cast<rlim_t>(vm_kb * 1024 + (1u << 30));
    if (saved.rlim_max != RLIM_INFINITY) capped.rlim_cur = std::min(capped.rlim_cur, saved.rlim_max);
    const bool reset = reset_peak_resident();
    const double before = resident_mb();
    REQUIRE(setrlimit(RLIMIT_AS, &capped) == 0);
    bool threw = false;
    try {
        tiled_attention_forward(shape, p.view(p.q.data()), p.view(p.k.data()), p.view(p.v.data()), p.view(out.data()),
                                lse.data());
    } catch (...) {
        threw = true;
    }
    setrlimit(RLIMIT_AS, &saved);
    REQUIRE_FALSE(threw);
    if (reset) {
        INFO("peak resident growth " << peak_resident_mb() - before << " MiB");
        CHECK(peak_resident_mb() - before < max_growth_mb);
    }

    // Spot-check rows (first, last, and one per key block boundary) against the reference.
    const double scale = 0.5;  // 1 / sqrt(4)
    for (int64_t i : {int64_t{0}, int64_t{511}, int64_t{512}, shape.tokens / 2, shape.tokens - 1}) {
        std::vector<double> s(shape.tokens);
        double m = -INFINITY;
        for (int64_t j = 0; j < shape.tokens; ++j) {
            s[j] = 0;
            for (int d = 0; d < 4; ++d) s[j] += static_cast<double>(p.q[i * 4 + d]) * p.k[j * 4 + d] * scale;
            m = std::max(m, s[j]);
        }
        double sum = 0, o[4] = {0, 0, 0, 0};
        for (int64_t j = 0; j < shape.tokens; ++j) {
            const double e = std::exp(s[j] - m);
            sum += e;
            for (int d = 0; d < 4; ++d) o[d] += e * p.v[j * 4 + d];
        }
        for (int d = 0; d < 4; ++d) {
            INFO("row " << i << " column " << d);
            CHECK(std::abs(out[i * 4 + d] - o[d] / sum) <= kF32Tolerance * (1 + std::abs(o[d] / sum)));
        }
        CHECK(std::abs(lse[i] - (m + std::log(sum))) <= kF32Tolerance * (1 + std::abs(m + std::log(sum))));
    }
}

TEST_CASE("tiled attention refuses empty shapes", "[attention]") {
    std::vector<float> x(8);
    HeadsView<float> view{x.data(), 8, 8, 8};
    CHECK_THROWS_WITH(tiled_attention_forward({1, 1, 0, 8}, view, view, view, view, nullptr),
                      Catch::Contains("tokens 0"));
    CHECK_THROWS_WITH(tiled_attention_forward({1, 1, 1, 8, true}, view, view, view, view, nullptr),
                      Catch::Contains("at least 2 tokens"));
}

TEST_CASE("tiled attention's gradients equal the full-matrix training attention's", "[attention][train]") {
    // runtime::AttentionTrain (the [N, H, T, T] oneDNN kernel the trainer uses) on the same packed
    // buffers: context and dqkv must agree within 1e-5. 2 images, 3 heads of 16, 50 tokens (a
    // patch-4 28x28 image plus the class token), blocks that split it unevenly; with and without
    // locality self-attention's mask.
    const bool exclude_self = GENERATE(false, true);
    INFO("exclude_self " << exclude_self);
    const AttentionShape shape{2, 3, 50, 16, exclude_self};
    const int64_t N = shape.images, T = shape.tokens, D = shape.heads * shape.head_dim;
    std::mt19937 rng(5);
    std::normal_distribution<float> normal(0.0f, 1.5f);
    std::vector<float> qkv(N * T * 3 * D), dcontext(N * T * D);
    for (float& x : qkv) x = normal(rng);
    for (float& x : dcontext) x = normal(rng);

    dnnl::stream stream(cpu_engine());
    AttentionTrain full(N, T, shape.heads, shape.head_dim, Precision::F32, exclude_self);
    std::vector<float> probabilities(N * shape.heads * T * T), scratch1(probabilities.size()), scratch2(probabilities.size());
    std::vector<float> full_context(N * T * D), full_dqkv(qkv.size());
    full.forward(stream, qkv.data(), probabilities.data(), full_context.data());
    full.backward(stream, qkv.data(), probabilities.data(), dcontext.data(), full_dqkv.data(), scratch1.data(),
                  scratch2.data());
    stream.wait();

    std::vector<float> context(N * T * D), lse(N * shape.heads * T), dqkv(qkv.size());
    tiled_attention_forward_packed(shape, qkv.data(), context.data(), lse.data(), {16, 24});
    tiled_attention_backward_packed(shape, qkv.data(), context.data(), lse.data(), dcontext.data(), dqkv.data(), {16, 24});
    std::string where;
    double e = max_error(context, full_context, where);
    INFO("context: max error " << e << " at " << where);
    CHECK(e <= kF32Tolerance);
    e = max_error(dqkv, full_dqkv, where);
    INFO("dqkv: max error " << e << " at " << where);
    CHECK(e <= kF32Tolerance);
}
