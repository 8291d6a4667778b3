#include "errors.hpp"

namespace vitc {

ModelError::ModelError(const std::string& file, const std::string& what)
    : Error(file + ": " + what) {}

ImageError::ImageError(const std::string& file, const std::string& what)
    : Error(file + ": " + what) {}

}  // namespace vitc
