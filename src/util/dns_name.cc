#include "util/dns_name.h"

#include <algorithm>
#include <cctype>
#include <sstream>

namespace leasehold::util {

bool is_dns1123_label(const std::string& s) {
  if (s.empty() || s.size() > 63) return false;
  for (char c : s) {
    if (!(std::islower(static_cast<unsigned char>(c)) || std::isdigit(static_cast<unsigned char>(c)) || c == '-')) {
      return false;
    }
  }
  return s.front() != '-' && s.back() != '-';
}

bool is_dns1123_subdomain(const std::string& s) {
  if (s.empty() || s.size() > 253) return false;
  std::stringstream parts(s);
  std::string part;
  size_t count = 0;
  while (std::getline(parts, part, '.')) {
    if (!is_dns1123_label(part)) return false;
    ++count;
  }
  return count > 0 && s.back() != '.';
}

bool is_label_key(const std::string& key) {
  std::string name = key;
  if (const auto slash = key.find('/'); slash != std::string::npos) {
    if (!is_dns1123_subdomain(key.substr(0, slash))) return false;
    name = key.substr(slash + 1);
  }
  if (name.empty() || name.size() > 63) return false;
  const auto alnum = [](char ch) { return std::isalnum(static_cast<unsigned char>(ch)) != 0; };
  if (!alnum(name.front()) || !alnum(name.back())) return false;
  return std::all_of(name.begin(), name.end(),
                     [&](char ch) { return alnum(ch) || ch == '-' || ch == '_' || ch == '.'; });
}

}  // namespace leasehold::util
