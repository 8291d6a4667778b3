#pragma once
// Errors that reach the user as one line. Each carries its context (file, tensor, field) in the
// message itself, so the CLI prints what() and exits with status 2.
#include <stdexcept>
#include <string>

namespace vitc {

struct Error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// A model directory, config or weight file that cannot be used.
struct ModelError : Error {
    ModelError(const std::string& file, const std::string& what);
};

// An image that cannot be decoded or preprocessed.
struct ImageError : Error {
    ImageError(const std::string& file, const std::string& what);
};

}  // namespace vitc
