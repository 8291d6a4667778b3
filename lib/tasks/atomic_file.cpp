#include "tasks/atomic_file.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <streambuf>
#include <vector>

#include "errors.hpp"

namespace vitc {

namespace fs = std::filesystem;

// A stream buffer over a file descriptor that remembers the first write error (errno), so that
// "No space left on device" reaches the user with the file's name, when it happens.
class AtomicFile::Buffer : public std::streambuf {
public:
    explicit Buffer(int fd) : fd_(fd) { setp(data_, data_ + sizeof data_); }
    int error() const { return error_; }
    bool drain() {
        const char* p = pbase();
        size_t n = static_cast<size_t>(pptr() - pbase());
        while (n && !error_) {
            const ssize_t w = ::write(fd_, p, n);
            if (w < 0 && errno == EINTR) continue;
            if (w < 0) error_ = errno;
            else {
                p += w;
                n -= static_cast<size_t>(w);
            }
        }
        setp(data_, data_ + sizeof data_);
        return !error_;
    }

protected:
    int_type overflow(int_type c) override {
        if (!drain()) return traits_type::eof();
        if (!traits_type::eq_int_type(c, traits_type::eof())) {
            *pptr() = traits_type::to_char_type(c);
            pbump(1);
        }
        return traits_type::not_eof(c);
    }
    int sync() override { return drain() ? 0 : -1; }

private:
    int fd_;
    int error_ = 0;
    char data_[1 << 16];
};

namespace {

mode_t default_file_mode() {  // what open(..., 0666) would give under the current umask
    const mode_t mask = ::umask(0);
    ::umask(mask);
    return 0666 & ~mask;
}

std::string folder_of(const std::string& path) {
    const fs::path parent = fs::path(path).parent_path();
    return parent.empty() ? "." : parent.string();
}

}  // namespace

void check_output_path(const std::string& path, const std::string& option) {
    std::error_code ec;
    if (fs::is_directory(path, ec)) throw Error(option + " " + path + " is a folder; give a file name");
    // The result is renamed into place: that would replace a link (or /dev/stdout) itself, not
    // write where it points. Only a regular file, or nothing, may be there.
    const fs::file_status existing = fs::symlink_status(path, ec);
    if (!ec && fs::exists(existing) && !fs::is_regular_file(existing))
        throw Error(option + " " + path + " is " +
                    (fs::is_symlink(existing) ? "a symbolic link" : "a special file") +
                    "; vitc writes its outputs as new regular files: give the real path of a file");
    if (!fs::is_directory(folder_of(path), ec))
        throw Error(option + " " + path + ": the folder " + folder_of(path) + " does not exist");
}

AtomicFile::AtomicFile(const std::string& path, const std::string& temporary, int fd, bool keep_on_failure)
    : path_(path), temporary_(temporary), fd_(fd), keep_on_failure_(keep_on_failure),
      buffer_(std::make_unique<Buffer>(fd)), out_(buffer_.get()) {}

AtomicFile::AtomicFile(const std::string& path) : path_(path), buffer_(), out_(nullptr) {
    check_output_path(path, "output");
    std::string name = (fs::path(folder_of(path)) / ("." + fs::path(path).filename().string() + ".vitc-XXXXXX")).string();
    std::vector<char> buffer(name.begin(), name.end());
    buffer.push_back('\0');
    fd_ = ::mkostemp(buffer.data(), O_CLOEXEC);  // O_CREAT | O_EXCL: never an existing file or link
    if (fd_ < 0) throw Error(path + ": cannot create a temporary file beside it: " + std::strerror(errno));
    ::fchmod(fd_, default_file_mode());
    temporary_ = buffer.data();
    buffer_ = std::make_unique<Buffer>(fd_);
    out_.rdbuf(buffer_.get());
}

std::unique_ptr<AtomicFile> AtomicFile::resumable(const std::string& path, bool resume, std::string* earlier_text) {
    check_output_path(path, "--out");
    const std::string temporary = path + ".partial";
    int flags = O_RDWR | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK;
    int fd = ::open(temporary.c_str(), flags | O_CREAT | O_EXCL, default_file_mode());
    const bool existed = fd < 0 && errno == EEXIST;
    if (existed) fd = ::open(temporary.c_str(), flags);
    if (fd < 0) throw Error(temporary + ": cannot open: " + std::strerror(errno) + (errno == ELOOP ? " (a symbolic link; vitc does not follow it)" : ""));
    auto refuse = [&](const std::string& why) {
        ::close(fd);
        throw Error(temporary + ": " + why);
    };
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) refuse("not a regular file; vitc will not write there");
    if (st.st_uid != ::geteuid()) refuse("belongs to another user; vitc will not write there");
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0)
        refuse("another vitc batch is writing " + path + " now");
    if (existed && !resume)
        refuse("holds the rows of an earlier run that was stopped before it finished; rerun with --resume to "
               "keep them, or delete it");
    if (existed && earlier_text) {
        earlier_text->assign(static_cast<size_t>(st.st_size), '\0');
        size_t done = 0;
        while (done < earlier_text->size()) {
            const ssize_t n = ::pread(fd, &(*earlier_text)[done], earlier_text->size() - done, static_cast<off_t>(done));
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) break;
            done += static_cast<size_t>(n);
        }
        earlier_text->resize(done);
    }
    ::lseek(fd, 0, SEEK_END);
    return std::unique_ptr<AtomicFile>(new AtomicFile(path, temporary, fd, true));
}

AtomicFile::~AtomicFile() {
    if (committed_ || fd_ < 0) return;
    if (buffer_) buffer_->drain();
    ::close(fd_);
    if (!keep_on_failure_) std::remove(temporary_.c_str());
}

void AtomicFile::truncate(size_t bytes) {
    out_.flush();
    if (::ftruncate(fd_, static_cast<off_t>(bytes)) != 0 || ::lseek(fd_, 0, SEEK_END) < 0)
        throw Error(temporary_ + ": cannot cut back an unfinished row: " + std::strerror(errno));
}

void AtomicFile::check_written() {
    out_.flush();
    if (buffer_->error()) throw Error(temporary_ + ": writing failed: " + std::strerror(buffer_->error()));
}

void AtomicFile::commit() {
    check_written();
    if (::fsync(fd_) != 0) throw Error(temporary_ + ": writing failed: " + std::strerror(errno));
    if (std::rename(temporary_.c_str(), path_.c_str()) != 0)
        throw Error(path_ + ": cannot rename " + temporary_ + " into place: " + std::strerror(errno));
    ::close(fd_);
    fd_ = -1;
    committed_ = true;
}

}  // namespace vitc
