#include "util/rfc3339.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdio>

namespace leasehold::util {
namespace {

using namespace std::chrono;

// Calendar arithmetic and snprintf of numbers only: nothing here allocates.
std::size_t format_into(WallTime t, int digits, char* out, std::size_t size) noexcept {
  const auto us = time_point_cast<microseconds>(t);
  const auto day = floor<days>(us);
  const year_month_day ymd{day};
  const hh_mm_ss<microseconds> hms{us - day};
  long long fraction = hms.subseconds().count();
  if (digits == 3) fraction /= 1000;
  const int n = std::snprintf(out, size, "%04d-%02u-%02uT%02lld:%02lld:%02lld.%0*lldZ", int(ymd.year()),
                              unsigned(ymd.month()), unsigned(ymd.day()), static_cast<long long>(hms.hours().count()),
                              static_cast<long long>(hms.minutes().count()),
                              static_cast<long long>(hms.seconds().count()), digits, fraction);
  if (n < 0 || size == 0) return 0;
  return std::min(static_cast<std::size_t>(n), size - 1);
}

std::string format_with_fraction(WallTime t, int digits) {
  char buffer[64];
  return std::string(buffer, format_into(t, digits, buffer, sizeof buffer));
}

bool read_int(std::string_view text, size_t pos, size_t len, int& out) {
  if (pos + len > text.size()) return false;
  for (size_t i = pos; i < pos + len; ++i) {
    if (!std::isdigit(static_cast<unsigned char>(text[i]))) return false;
  }
  std::from_chars(text.data() + pos, text.data() + pos + len, out);
  return true;
}

}  // namespace

std::string format_micro_time(WallTime t) { return format_with_fraction(t, 6); }
std::string format_rfc3339_millis(WallTime t) { return format_with_fraction(t, 3); }
std::size_t format_rfc3339_millis_to(WallTime t, char* out, std::size_t size) noexcept {
  return format_into(t, 3, out, size);
}

std::optional<WallTime> parse_rfc3339(std::string_view s) {
  int y, mo, d, h, mi, se;
  if (!read_int(s, 0, 4, y) || s.size() < 20 || s[4] != '-' || !read_int(s, 5, 2, mo) || s[7] != '-' ||
      !read_int(s, 8, 2, d) || (s[10] != 'T' && s[10] != 't') || !read_int(s, 11, 2, h) || s[13] != ':' ||
      !read_int(s, 14, 2, mi) || s[16] != ':' || !read_int(s, 17, 2, se)) {
    return std::nullopt;
  }
  size_t pos = 19;
  long long nanos = 0;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    int digits = 0;
    while (pos < s.size() && std::isdigit(static_cast<unsigned char>(s[pos]))) {
      if (digits < 9) {
        nanos = nanos * 10 + (s[pos] - '0');
        ++digits;
      }
      ++pos;
    }
    if (digits == 0) return std::nullopt;
    for (; digits < 9; ++digits) nanos *= 10;
  }
  int offset_minutes = 0;
  if (pos < s.size() && (s[pos] == 'Z' || s[pos] == 'z')) {
    ++pos;
  } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
    int oh, om;
    if (!read_int(s, pos + 1, 2, oh) || pos + 3 >= s.size() || s[pos + 3] != ':' || !read_int(s, pos + 4, 2, om)) {
      return std::nullopt;
    }
    offset_minutes = (s[pos] == '+' ? 1 : -1) * (oh * 60 + om);
    pos += 6;
  } else {
    return std::nullopt;
  }
  if (pos != s.size()) return std::nullopt;
  const year_month_day ymd{year{y}, month{static_cast<unsigned>(mo)}, day{static_cast<unsigned>(d)}};
  if (!ymd.ok() || h > 23 || mi > 59 || se > 60) return std::nullopt;
  // Nanoseconds since 1970 in 64 bits reach from 1677 to 2262; other years
  // (Go's zero time 0001-01-01 among them) cannot be represented.
  if (y < 1678 || y > 2261) return std::nullopt;
  auto t = sys_days{ymd} + hours{h} + minutes{mi} + seconds{se} + nanoseconds{nanos} - minutes{offset_minutes};
  return time_point_cast<WallTime::duration>(t);
}

}  // namespace leasehold::util
