#include "image/isolated_loader.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>
#include <thread>
#include <vector>

#include "errors.hpp"
#include "image/preprocess.hpp"

extern char** environ;

namespace vitc {

namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

// ---------------------------------------------------------------- messages: u32 length, bytes
// Replies: one status byte (0 ok, 1 error), a u32 length, then either two doubles (decode and
// preprocess seconds), the u32 conversion bits and the floats, or the reason as text.
constexpr uint32_t kMaxMessage = 64 * 1024;  // paths and reasons; the floats are checked apart

bool write_all(int fd, const void* data, size_t n) {
    const char* p = static_cast<const char*>(data);
    while (n) {
        const ssize_t w = ::send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return false;
        p += w;
        n -= static_cast<size_t>(w);
    }
    return true;
}

bool read_all_blocking(int fd, void* data, size_t n) {
    char* p = static_cast<char*>(data);
    while (n) {
        const ssize_t r = ::read(fd, p, n);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return false;
        p += r;
        n -= static_cast<size_t>(r);
    }
    return true;
}

bool send_message(int fd, const std::string& text) {
    const uint32_t n = static_cast<uint32_t>(text.size());
    return write_all(fd, &n, sizeof n) && write_all(fd, text.data(), text.size());
}

json preprocessing_to_json(const Preprocessing& p) {
    return {{"shortest_edge_resize", p.resize == Preprocessing::Resize::ShortestEdge},
            {"resize_height", p.resize_height}, {"resize_width", p.resize_width},
            {"shortest_edge", p.shortest_edge}, {"crop_height", p.crop_height}, {"crop_width", p.crop_width},
            {"interpolation", static_cast<int>(p.interpolation)}, {"do_rescale", p.do_rescale},
            {"rescale_factor", p.rescale_factor}, {"do_normalize", p.do_normalize}, {"mean", p.mean}, {"std", p.std}};
}

Preprocessing preprocessing_from_json(const json& j) {
    Preprocessing p;
    p.resize = j.at("shortest_edge_resize").get<bool>() ? Preprocessing::Resize::ShortestEdge : Preprocessing::Resize::Exact;
    p.resize_height = j.at("resize_height").get<int>();
    p.resize_width = j.at("resize_width").get<int>();
    p.shortest_edge = j.at("shortest_edge").get<int>();
    p.crop_height = j.at("crop_height").get<int>();
    p.crop_width = j.at("crop_width").get<int>();
    p.interpolation = static_cast<Interpolation>(j.at("interpolation").get<int>());
    p.do_rescale = j.at("do_rescale").get<bool>();
    p.rescale_factor = j.at("rescale_factor").get<float>();  // a float sent as a double comes back exact
    p.do_normalize = j.at("do_normalize").get<bool>();
    p.mean = j.at("mean").get<std::vector<float>>();
    p.std = j.at("std").get<std::vector<float>>();
    return p;
}

std::string mib(int64_t bytes) { return std::to_string(bytes >> 20) + " MiB"; }

// Virtual memory in use now (/proc/self/statm, first field, in pages).
int64_t address_space_bytes() {
    std::ifstream statm("/proc/self/statm");
    int64_t pages = 0;
    statm >> pages;
    return pages * ::sysconf(_SC_PAGESIZE);
}

// OpenCV's imdecode writes an image its decoder cannot read from memory (PFM, for one)
// to a temporary file in /tmp (or $OPENCV_TEMP_PATH), and OpenCV 4.6 leaves that file behind when
// the header declares an empty image or the child is killed mid-decode. So each child gets its own
// folder for them: it empties the folder after every image, the parent removes it with the child.
std::string make_scratch_folder() {
    const char* tmp = std::getenv("TMPDIR");
    std::string pattern = std::string(tmp && *tmp ? tmp : "/tmp") + "/vitc-decoder.XXXXXX";
    return ::mkdtemp(pattern.data()) ? pattern : std::string();  // none: OpenCV uses /tmp, as before
}

void empty_folder(const std::string& folder) {
    std::error_code ignored;
    for (const auto& entry : std::filesystem::directory_iterator(folder, ignored))
        std::filesystem::remove_all(entry.path(), ignored);
}

std::string strip_prefix(const std::string& message, const std::string& prefix) {
    return message.compare(0, prefix.size(), prefix) == 0 ? message.substr(prefix.size()) : message;
}

}  // namespace

// ------------------------------------------------------------------------------ the parent side

IsolatedImageLoader::IsolatedImageLoader(const DecodeLimits& limits, const Preprocessing& preprocessing, int channels)
    : limits_(limits) {
    setup_ = json{{"max_file_bytes", limits.max_file_bytes}, {"max_pixels", limits.max_pixels},
                  {"max_jpeg_scans", limits.max_jpeg_scans}, {"memory_bytes", limits.worker_memory_bytes},
                  {"channels", channels}, {"preprocessing", preprocessing_to_json(preprocessing)}}
                 .dump();
}

IsolatedImageLoader::~IsolatedImageLoader() { stop_child(); }

void IsolatedImageLoader::start() {
    scratch_ = make_scratch_folder();
    json setup = json::parse(setup_);
    setup["scratch"] = scratch_;
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
        throw Error(std::string("cannot start the image loader: socketpair: ") + std::strerror(errno));
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, sv[1], STDIN_FILENO);  // dup2 clears close-on-exec
    posix_spawn_file_actions_adddup2(&actions, sv[1], STDOUT_FILENO);
    // The child ignores Ctrl-C and SIGTERM (they reach the whole process group): the parent decides.
    posix_spawnattr_t attributes;
    posix_spawnattr_init(&attributes);
    sigset_t none;
    sigemptyset(&none);
    posix_spawnattr_setsigmask(&attributes, &none);
    posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGMASK);
    std::string executable = limits_.worker_executable, command = kImageLoaderCommand;
    char* argv[] = {executable.data(), command.data(), nullptr};
    pid_t pid = -1;
    const int failed = ::posix_spawn(&pid, executable.c_str(), &actions, &attributes, argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attributes);
    ::close(sv[1]);
    if (failed) {
        ::close(sv[0]);
        remove_scratch();
        throw Error("cannot start the image loader " + executable + ": " + std::strerror(failed));
    }
    pid_ = pid;
    socket_ = sv[0];
    if (!send_message(socket_, setup.dump())) {
        const std::string how = reap();
        throw Error("the image loader " + executable + " ended at start (" + how + ")");
    }
}

void IsolatedImageLoader::stop_child() {
    if (pid_ < 0) return;
    ::kill(pid_, SIGKILL);
    reap();
}

std::string IsolatedImageLoader::reap() {
    if (socket_ >= 0) ::close(socket_);
    socket_ = -1;
    if (pid_ < 0) return "not running";
    int status = 0;
    ::kill(pid_, SIGKILL);  // it may be alive but have closed its end; make sure
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
    remove_scratch();
    if (WIFSIGNALED(status)) {
        const int sig = WTERMSIG(status);
        const char* name = sigabbrev_np(sig);
        return std::string("killed by SIG") + (name ? name : std::to_string(sig).c_str());
    }
    return "exit status " + std::to_string(WEXITSTATUS(status));
}

void IsolatedImageLoader::remove_scratch() {
    if (scratch_.empty()) return;
    std::error_code ignored;
    std::filesystem::remove_all(scratch_, ignored);
    scratch_.clear();
}

void IsolatedImageLoader::load(const std::string& path, float* out, size_t floats, double* decode_seconds,
                               double* preprocess_seconds, uint32_t* conversions,
                               const std::function<bool()>& should_stop) {
    if (path.size() > kMaxMessage) throw ImageError(path.substr(0, 256) + "...", "path too long");
    if (pid_ < 0) start();
    if (!send_message(socket_, path)) {  // a child that died after its last answer: one new try
        reap();
        start();
        if (!send_message(socket_, path)) throw ImageError(path, "the image loader ended (" + reap() + ")");
    }
    const auto deadline = Clock::now() + std::chrono::duration<double>(limits_.timeout_seconds);
    // Reads exactly n bytes unless the deadline passes, the user stops, or the child ends.
    const auto receive = [&](void* data, size_t n) {
        char* p = static_cast<char*>(data);
        while (n) {
            if (should_stop && should_stop()) {
                stop_child();
                throw LoadInterrupted();
            }
            if (Clock::now() > deadline) {
                stop_child();
                char seconds[32];
                std::snprintf(seconds, sizeof seconds, "%g", limits_.timeout_seconds);
                throw ImageError(path, std::string("decoding and preprocessing took longer than ") + seconds +
                                           " s (--decode-timeout); stopped");
            }
            pollfd fd{socket_, POLLIN, 0};
            const int ready = ::poll(&fd, 1, 50);
            if (ready < 0 && errno != EINTR) throw ImageError(path, std::string("poll: ") + std::strerror(errno));
            if (ready <= 0) continue;
            const ssize_t r = ::read(socket_, p, n);
            if (r < 0 && (errno == EINTR || errno == EAGAIN)) continue;
            if (r <= 0) {
                const std::string how = reap();
                if (should_stop && should_stop()) throw LoadInterrupted();  // it got the Ctrl-C too
                throw ImageError(path, "the decoder crashed on this file (" + how + "; memory limit " +
                                           mib(limits_.worker_memory_bytes) + ")");
            }
            p += r;
            n -= static_cast<size_t>(r);
        }
    };
    uint8_t status = 0;
    uint32_t length = 0;
    receive(&status, 1);
    receive(&length, sizeof length);
    if (status == 1) {
        if (length > kMaxMessage) {
            stop_child();
            throw ImageError(path, "the image loader sent a malformed reply");
        }
        std::string reason(length, '\0');
        receive(reason.data(), length);
        throw ImageError(path, reason);
    }
    double times[2];
    uint32_t converted = 0;
    const size_t expected = sizeof times + sizeof converted + floats * sizeof(float);
    if (status != 0 || length != expected) {
        stop_child();
        throw ImageError(path, "the image loader sent " + std::to_string(length) + " bytes; expected " +
                                   std::to_string(expected));
    }
    receive(times, sizeof times);
    receive(&converted, sizeof converted);
    receive(out, floats * sizeof(float));
    if (conversions) *conversions = converted;
    if (decode_seconds) *decode_seconds += times[0];
    if (preprocess_seconds) *preprocess_seconds += times[1];
}

// ------------------------------------------------------------------------------- the child side

int run_image_loader_worker() {
    // Ctrl-C, scancel, systemd and docker signal every process of the job or terminal; the parent
    // decides (it kills us with SIGKILL), so that the image in hand never becomes a spurious error row.
    for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGPIPE}) ::signal(sig, SIG_IGN);
    // Never outlive the parent (killed with SIGKILL, say). PR_SET_PDEATHSIG would fire when the
    // *thread* that started us ends, and batch starts loaders from short-lived threads; so watch.
    const pid_t parent = ::getppid();
    const rlimit no_core{0, 0};
    ::setrlimit(RLIMIT_CORE, &no_core);
    cv::setNumThreads(1);  // one image at a time, bounded work

    uint32_t n = 0;
    if (!read_all_blocking(STDIN_FILENO, &n, sizeof n) || n > kMaxMessage) return 2;
    std::string text(n, '\0');
    if (!read_all_blocking(STDIN_FILENO, text.data(), n)) return 2;
    DecodeLimits limits;
    Preprocessing preprocessing;
    int channels = 1;
    std::string scratch;
    try {
        const json setup = json::parse(text);
        limits.max_file_bytes = setup.at("max_file_bytes").get<int64_t>();
        limits.max_pixels = setup.at("max_pixels").get<int64_t>();
        limits.max_jpeg_scans = setup.at("max_jpeg_scans").get<int64_t>();
        limits.worker_memory_bytes = setup.at("memory_bytes").get<int64_t>();
        channels = setup.at("channels").get<int>();
        preprocessing = preprocessing_from_json(setup.at("preprocessing"));
        scratch = setup.value("scratch", std::string());
    } catch (const std::exception&) {
        return 2;
    }
    if (!scratch.empty()) ::setenv("OPENCV_TEMP_PATH", scratch.c_str(), 1);  // before any other thread reads it
    std::thread([parent, scratch] {
        for (;;) {
            if (::getppid() != parent) {
                if (!scratch.empty()) {
                    std::error_code ignored;
                    std::filesystem::remove_all(scratch, ignored);
                }
                ::_exit(0);
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(200));
        }
    }).detach();
    // The memory limit: what the process maps now (code and libraries) plus the budget per image.
    const rlimit memory{static_cast<rlim_t>(address_space_bytes() + limits.worker_memory_bytes),
                        static_cast<rlim_t>(address_space_bytes() + limits.worker_memory_bytes)};
    ::setrlimit(RLIMIT_AS, &memory);

    const size_t floats = static_cast<size_t>(channels) * preprocessing.output_height() * preprocessing.output_width();
    std::vector<float> out(floats);
    for (;;) {
        if (!read_all_blocking(STDIN_FILENO, &n, sizeof n) || n > kMaxMessage) return 0;
        std::string path(n, '\0');
        if (!read_all_blocking(STDIN_FILENO, path.data(), n)) return 0;
        std::string reason;
        double times[2] = {0, 0};
        uint32_t converted = 0;
        try {
            const auto start = Clock::now();
            const cv::Mat image = decode_image(path, limits);
            const auto decoded = Clock::now();
            preprocess_image(image, preprocessing, channels, out.data(), limits.max_pixels);
            converted = input_conversions(image, preprocessing, channels);
            times[0] = std::chrono::duration<double>(decoded - start).count();
            times[1] = std::chrono::duration<double>(Clock::now() - decoded).count();
        } catch (const Error& e) {
            reason = strip_prefix(e.what(), path + ": ");
        } catch (const cv::Exception& e) {
            reason = "OpenCV: " + e.err;
        } catch (const std::bad_alloc&) {
            reason = "needs more memory than the " + mib(limits.worker_memory_bytes) + " allowed per image";
        } catch (const std::exception& e) {
            reason = e.what();
        }
        if (!scratch.empty()) empty_folder(scratch);
        if (!reason.empty() && reason.find("Failed to allocate") != std::string::npos)
            reason = "needs more memory than the " + mib(limits.worker_memory_bytes) + " allowed per image (" + reason + ")";
        if (reason.size() > kMaxMessage) reason.resize(kMaxMessage);
        const uint8_t status = reason.empty() ? 0 : 1;
        const uint32_t length = static_cast<uint32_t>(
            reason.empty() ? sizeof times + sizeof converted + floats * sizeof(float) : reason.size());
        bool sent = write_all(STDOUT_FILENO, &status, 1) && write_all(STDOUT_FILENO, &length, sizeof length);
        if (sent && status == 0)
            sent = write_all(STDOUT_FILENO, times, sizeof times) && write_all(STDOUT_FILENO, &converted, sizeof converted) &&
                   write_all(STDOUT_FILENO, out.data(), floats * sizeof(float));
        else if (sent)
            sent = write_all(STDOUT_FILENO, reason.data(), reason.size());
        if (!sent) return 0;
    }
}

}  // namespace vitc
