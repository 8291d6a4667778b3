#pragma once
// Decoding and preprocessing in a child process. A decoder can loop for minutes on a crafted file
// (a progressive JPEG of tens of thousands of empty scans), allocate gigabytes inside the pixel
// limit, or crash; none of that can be stopped or undone inside our own process. In a child it
// costs that one image: the child runs under a memory limit (RLIMIT_AS), the parent waits for it
// with a deadline and kills it when the time is up or when the user asks to stop, and a new child
// takes the next image. Only the preprocessed floats come back, checked for their exact size.
//
// The child is this same executable started with kImageLoaderCommand as its only argument; its
// main() hands over to run_image_loader_worker().
#include <functional>
#include <string>
#include <sys/types.h>

#include "image/decode.hpp"
#include "io/model_config.hpp"

namespace vitc {

inline constexpr const char* kImageLoaderCommand = "__image-loader";

// Thrown by a load that stopped because should_stop said so: not an image error, no row.
struct LoadInterrupted : std::exception {
    const char* what() const noexcept override { return "interrupted"; }
};

class IsolatedImageLoader {
public:
    IsolatedImageLoader(const DecodeLimits& limits, const Preprocessing& preprocessing, int channels);
    ~IsolatedImageLoader();  // kills the child
    IsolatedImageLoader(const IsolatedImageLoader&) = delete;
    IsolatedImageLoader& operator=(const IsolatedImageLoader&) = delete;

    // Decodes and preprocesses `path` into out[0 .. floats); adds the child's timings to the
    // seconds given. Throws ImageError (the reason, including a timeout, a crash or the memory
    // limit) or LoadInterrupted. should_stop is asked every 50 ms while the child works.
    // *conversions gets the image's InputConversion bits (image/preprocess.hpp).
    void load(const std::string& path, float* out, size_t floats, double* decode_seconds, double* preprocess_seconds,
              uint32_t* conversions, const std::function<bool()>& should_stop);

private:
    void start();
    void stop_child();
    std::string reap();  // waits for the killed or dead child; says how it ended
    void remove_scratch();

    DecodeLimits limits_;
    std::string setup_;  // the first message a new child gets: limits and preprocessing, as JSON
    std::string scratch_;  // the child's folder for OpenCV's temporary files (see the .cpp)
    pid_t pid_ = -1;
    int socket_ = -1;
};

// The child's loop: reads the setup, then one path per request, and answers each with the
// floats or the reason. Returns the exit status.
int run_image_loader_worker();

}  // namespace vitc
