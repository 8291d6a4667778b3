#include "io/read_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "errors.hpp"

namespace vitc {

namespace {

const char* file_type_name(mode_t mode) {
    if (S_ISDIR(mode)) return "a folder";
    if (S_ISFIFO(mode)) return "a FIFO (named pipe)";
    if (S_ISCHR(mode)) return "a character device";
    if (S_ISBLK(mode)) return "a block device";
    if (S_ISSOCK(mode)) return "a socket";
    return "not a regular file";
}

}  // namespace

int open_regular_file(const std::string& path, int64_t* size, const std::string& what) {
    // O_NONBLOCK: opening a FIFO with no writer would otherwise wait forever.
    const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) throw FileError(path, "cannot open " + what + ": " + std::strerror(errno));
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
        const int saved = errno;
        ::close(fd);
        throw FileError(path, "cannot read " + what + ": " + std::strerror(saved));
    }
    if (!S_ISREG(st.st_mode)) {
        ::close(fd);
        throw FileError(path, what + " is " + file_type_name(st.st_mode) + ", not a regular file");
    }
    // Regular files ignore O_NONBLOCK for reads, but clear it anyway so a read never says EAGAIN.
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    *size = static_cast<int64_t>(st.st_size);
    return fd;
}

namespace {

// Reads up to `size` bytes into `out`, resized to what was read: a file that shrinks while read
// ends early, one that grows is cut at the size checked.
template <typename Bytes>
Bytes read_checked(const std::string& path, int64_t max_bytes, const std::string& what) {
    int64_t size = 0;
    const int fd = open_regular_file(path, &size, what);
    if (size > max_bytes) {
        ::close(fd);
        throw FileError(path, what + " is " + std::to_string(size) + " bytes, over the limit of " +
                                  std::to_string(max_bytes));
    }
    Bytes bytes(static_cast<size_t>(size), 0);
    size_t done = 0;
    while (done < bytes.size()) {
        const ssize_t n = ::read(fd, reinterpret_cast<char*>(bytes.data()) + done, bytes.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            const int saved = errno;
            ::close(fd);
            throw FileError(path, "reading " + what + " failed: " + std::strerror(saved));
        }
        if (n == 0) break;
        done += static_cast<size_t>(n);
    }
    ::close(fd);
    bytes.resize(done);
    return bytes;
}

}  // namespace

std::string read_regular_file(const std::string& path, int64_t max_bytes, const std::string& what) {
    return read_checked<std::string>(path, max_bytes, what);
}

std::vector<unsigned char> read_regular_file_bytes(const std::string& path, int64_t max_bytes, const std::string& what) {
    return read_checked<std::vector<unsigned char>>(path, max_bytes, what);
}

}  // namespace vitc
