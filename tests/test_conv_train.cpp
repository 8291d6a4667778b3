// runtime::ConvTrain against a direct convolution written as loops in double precision, for the
// shapes a ResNet uses (3x3 and 7x7, stride 1 and 2, 1x1 projections, a single input channel):
// forward, backward data and backward weights. f32: within 1e-5 of each tensor's largest
// magnitude (f32 accumulation against double). bf16: the loops round the same operands to bf16
// as the kernels do (x and W; dy and W; x and dy), so only the accumulation order differs:
// within 1e-5 as well. The f32 3x3 stride-1 cases with 32 and 48 channels run Winograd on
// AVX-512 (checked), whose transforms round differently: within 1e-5 too (measured about 1e-6).
#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "runtime/conv_train.hpp"
#include "train_fixture.hpp"

using namespace vitc;
using vitc::runtime::ConvShape;
using vitc::runtime::ConvTrain;

namespace {

float round_bf16(float v) {  // to nearest even, as oneDNN's f32 -> bf16 conversion
    uint32_t bits;
    std::memcpy(&bits, &v, 4);
    bits += 0x7fff + ((bits >> 16) & 1);
    bits &= 0xffff0000u;
    std::memcpy(&v, &bits, 4);
    return v;
}

std::vector<float> rounded(const std::vector<float>& v, bool bf16) {
    std::vector<float> r(v);
    if (bf16)
        for (float& x : r) x = round_bf16(x);
    return r;
}

// x [N, H, W, I] (NHWC), W [O, I, k, k]: y, dx and dW by the definition, in double.
struct DirectConv {
    ConvShape s;
    int64_t Ho() const { return s.out_height(); }
    int64_t Wo() const { return s.out_width(); }
    // calls f(n, oy, ox, o, iy, ix, i, ky, kx) for every product that lands inside the image
    template <class F>
    void each(F f) const {
        for (int64_t n = 0; n < s.batch; ++n)
            for (int64_t oy = 0; oy < Ho(); ++oy)
                for (int64_t ox = 0; ox < Wo(); ++ox)
                    for (int64_t ky = 0; ky < s.kernel; ++ky)
                        for (int64_t kx = 0; kx < s.kernel; ++kx) {
                            const int64_t iy = oy * s.stride - s.padding + ky, ix = ox * s.stride - s.padding + kx;
                            if (iy < 0 || ix < 0 || iy >= s.height || ix >= s.width) continue;
                            for (int64_t o = 0; o < s.out; ++o)
                                for (int64_t i = 0; i < s.in; ++i) f(n, oy, ox, o, iy, ix, i, ky, kx);
                        }
    }
    int64_t xi(int64_t n, int64_t y, int64_t x, int64_t i) const { return ((n * s.height + y) * s.width + x) * s.in + i; }
    int64_t yi(int64_t n, int64_t y, int64_t x, int64_t o) const { return ((n * Ho() + y) * Wo() + x) * s.out + o; }
    int64_t wi(int64_t o, int64_t i, int64_t ky, int64_t kx) const { return ((o * s.in + i) * s.kernel + ky) * s.kernel + kx; }
};

void check_close(const char* what, const std::vector<float>& got, const std::vector<double>& want) {
    double largest = 0, worst = 0;
    for (size_t i = 0; i < want.size(); ++i) {
        largest = std::max(largest, std::abs(want[i]));
        worst = std::max(worst, std::abs(got[i] - want[i]));
    }
    INFO(what << ": largest error " << worst << " of a largest magnitude " << largest);
    CHECK(worst <= 1e-5 * largest);
}

}  // namespace

TEST_CASE("ConvTrain's forward and backward equal the convolution's definition, in f32 and bf16", "[train]") {
    vitc::train::SingleThread one_thread;
    struct Case { int64_t in, out, size, kernel, stride, padding; };
    const Case cases[] = {{4, 8, 9, 3, 1, 1}, {8, 16, 9, 3, 2, 1}, {1, 8, 20, 7, 2, 3}, {1, 4, 10, 3, 1, 1},
                          {8, 16, 9, 1, 2, 0}, {16, 4, 6, 1, 1, 0}, {4, 16, 6, 1, 1, 0},
                          // 16 channels: direct; 32 and 48: Winograd in f32 (reordered to nChw16c)
                          {16, 16, 9, 3, 1, 1}, {32, 32, 6, 3, 1, 1}, {48, 32, 5, 3, 1, 1}};
    const bool avx512 = dnnl::get_effective_cpu_isa() >= dnnl::cpu_isa::avx512_core;
    std::mt19937 rng(5);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    for (const Case& c : cases)
    for (Precision precision : {Precision::F32, Precision::BF16}) {
        ConvShape s;
        s.batch = 3, s.in = c.in, s.out = c.out, s.height = c.size, s.width = c.size + 1;
        s.kernel = c.kernel, s.stride = c.stride, s.padding = c.padding;
        const DirectConv d{s};
        INFO(precision_name(precision) << ": " << c.in << " -> " << c.out << ", " << c.kernel << "x" << c.kernel
                                       << " stride " << c.stride << " padding " << c.padding);
        std::vector<float> x(s.batch * s.height * s.width * s.in), W(s.out * s.in * s.kernel * s.kernel),
            dy(s.batch * d.Ho() * d.Wo() * s.out);
        for (auto* v : {&x, &W, &dy})
            for (float& e : *v) e = normal(rng);
        const bool bf16 = precision == Precision::BF16;
        const std::vector<float> xr = rounded(x, bf16), Wr = rounded(W, bf16), dyr = rounded(dy, bf16);
        std::vector<double> y_ref(dy.size()), dx_ref(x.size()), dW_ref(W.size());
        d.each([&](int64_t n, int64_t oy, int64_t ox, int64_t o, int64_t iy, int64_t ix, int64_t i, int64_t ky,
                   int64_t kx) {
            const int64_t a = d.xi(n, iy, ix, i), b = d.yi(n, oy, ox, o), w = d.wi(o, i, ky, kx);
            y_ref[b] += double(xr[a]) * Wr[w];
            dx_ref[a] += double(dyr[b]) * Wr[w];
            dW_ref[w] += double(dyr[b]) * xr[a];
        });
        ConvTrain conv(s, precision);
        const bool winograd_applies = !bf16 && c.kernel == 3 && c.stride == 1 && c.in >= 32 && c.out >= 32;
        if (avx512) CHECK(conv.winograd() == winograd_applies);  // oneDNN has the kernel for AVX-512
        dnnl::stream stream(runtime::cpu_engine());
        std::vector<float> y(dy.size()), dx(x.size()), dW(W.size());
        conv.forward(stream, x.data(), W.data(), y.data());
        conv.backward(stream, dy.data(), x.data(), W.data(), dx.data(), dW.data());
        stream.wait();
        check_close("y", y, y_ref);
        check_close("dx", dx, dx_ref);
        check_close("dW", dW, dW_ref);
        for (const std::string& impl : conv.implementations()) {
            INFO(impl);
            CHECK(impl.find("ref") == std::string::npos);
        }
    }
}
