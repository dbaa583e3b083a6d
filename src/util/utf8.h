// UTF-8 validity of text from outside (flags, query strings): what Kubernetes and JSON readers
// accept. Pure; thread-safe.
#pragma once

#include <string>

namespace leasehold::util {

// Well-formed UTF-8: no overlong forms, surrogates or code points past U+10FFFF.
bool is_valid_utf8(const std::string& s);

}  // namespace leasehold::util
