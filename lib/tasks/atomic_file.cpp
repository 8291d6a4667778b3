#include "tasks/atomic_file.hpp"

#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>

#include "errors.hpp"

namespace vitc {

AtomicFile::AtomicFile(const std::string& path)
    : path_(path), temporary_(path + ".tmp-" + std::to_string(::getpid())) {
    out_.open(temporary_, std::ios::binary | std::ios::trunc);
    if (!out_) throw Error(path_ + ": cannot create " + temporary_ + ": " + std::strerror(errno));
}

AtomicFile::~AtomicFile() {
    if (!committed_) {
        out_.close();
        std::remove(temporary_.c_str());
    }
}

void AtomicFile::commit() {
    out_.flush();
    out_.close();
    if (!out_) throw Error(path_ + ": writing " + temporary_ + " failed");
    if (std::rename(temporary_.c_str(), path_.c_str()) != 0)
        throw Error(path_ + ": cannot rename " + temporary_ + " into place: " + std::strerror(errno));
    committed_ = true;
}

}  // namespace vitc
