// The names Kubernetes accepts for objects, namespaces and label keys, checked before the API
// server would refuse them. Pure; thread-safe.
#pragma once

#include <string>

namespace leasehold::util {

// 1-63 characters of [a-z0-9-], beginning and ending with a letter or digit (namespaces).
bool is_dns1123_label(const std::string& s);
// Dot-separated DNS-1123 labels, at most 253 characters (Lease names, label key prefixes).
bool is_dns1123_subdomain(const std::string& s);
// A label key: [prefix/]name, prefix a DNS-1123 subdomain, name 1-63 characters of
// [A-Za-z0-9-_.] beginning and ending with a letter or digit.
bool is_label_key(const std::string& key);

}  // namespace leasehold::util
