#pragma once
// Reading a whole file that a user or an attacker named. The type and the size are checked on the
// open descriptor before a byte is read: a FIFO, a device or a socket is refused without blocking
// (it is opened non-blocking), and /dev/zero or a growing file cannot push past the limit.
#include <cstdint>
#include <string>
#include <vector>

#include "errors.hpp"

namespace vitc {

// What went wrong with one file; callers rethrow it as the error of their kind (ModelError,
// ImageError) with reason().
struct FileError : Error {
    FileError(const std::string& file, const std::string& reason) : Error(file + ": " + reason), reason_(reason) {}
    const std::string& reason() const { return reason_; }

private:
    std::string reason_;
};

// The file's bytes; throws FileError.
// `what` names the kind of file in messages ("config file", "image").
std::string read_regular_file(const std::string& path, int64_t max_bytes, const std::string& what);
std::vector<unsigned char> read_regular_file_bytes(const std::string& path, int64_t max_bytes, const std::string& what);

// Opens `path` read-only and non-blocking and checks that it is a regular file; returns the
// descriptor (close it yourself) and its size. Throws FileError.
int open_regular_file(const std::string& path, int64_t* size, const std::string& what);

}  // namespace vitc
