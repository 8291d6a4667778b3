#pragma once
// An output file that appears complete or not at all: the bytes go to a temporary file beside the
// destination (flushed as they are written) and commit() renames it into place.
//
// The temporary is created exclusively (O_EXCL, never through a symbolic link), so a link planted
// where it will be cannot make vitc write anywhere else. Two kinds:
//  - AtomicFile(path): a fresh, unpredictable name (mkstemp) in the destination's folder;
//  - AtomicFile::resumable(path, resume): the fixed name "<path>.partial", so that the rows
//    flushed before a SIGKILL, an OOM kill or a power cut can be found and kept by --resume. It
//    is locked (flock) while a run writes it; a second run on the same output is refused.
// Every write error (a full disk, say) is reported at once with its reason.
#include <memory>
#include <ostream>
#include <string>

namespace vitc {

class AtomicFile {
public:
    explicit AtomicFile(const std::string& path);  // throws Error if the temporary cannot be made
    ~AtomicFile();                                 // removes a fresh temporary unless committed
    AtomicFile(const AtomicFile&) = delete;
    AtomicFile& operator=(const AtomicFile&) = delete;

    // The resumable kind. Without `resume`, "<path>.partial" must not exist (a stale one holds the
    // rows of a killed run: the error says to --resume or delete it). With `resume`, an existing
    // one is opened for appending and its contents are returned through *earlier_text.
    static std::unique_ptr<AtomicFile> resumable(const std::string& path, bool resume, std::string* earlier_text);

    std::ostream& stream() { return out_; }
    const std::string& temporary_path() const { return temporary_; }
    // Cuts the temporary back to its first `bytes` (an unfinished last row of a killed run).
    void truncate(size_t bytes);
    // Throws Error naming the file and the reason (errno) if any write so far failed.
    void check_written();
    void commit();  // flushes, syncs and renames into place; throws Error when it cannot

private:
    AtomicFile(const std::string& path, const std::string& temporary, int fd, bool keep_on_failure);
    class Buffer;
    std::string path_, temporary_;
    int fd_ = -1;
    bool keep_on_failure_ = false;  // a resumable temporary stays for --resume
    std::unique_ptr<Buffer> buffer_;
    std::ostream out_;
    bool committed_ = false;
};

// Refuses, before any work, an output path that can never be written: an existing folder, or a
// folder that does not exist. `option` names it in the message ("--out").
void check_output_path(const std::string& path, const std::string& option);

}  // namespace vitc
