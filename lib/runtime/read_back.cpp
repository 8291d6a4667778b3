#include "runtime/read_back.hpp"

#include "runtime/dnnl_helpers.hpp"

namespace vitc::runtime {

std::vector<float> plain_f32_values(const dnnl::memory& m) {
    const dnnl::memory::desc desc = m.get_desc();
    std::vector<float> out(static_cast<size_t>(dnnl::memory::desc(plain_desc(desc.dims())).get_size() / sizeof(float)));
    dnnl::memory plain(plain_desc(desc.dims()), cpu_engine(), out.data());
    dnnl::stream stream(cpu_engine());
    dnnl::reorder(const_cast<dnnl::memory&>(m), plain).execute(stream, const_cast<dnnl::memory&>(m), plain);
    stream.wait();
    return out;
}

}  // namespace vitc::runtime
