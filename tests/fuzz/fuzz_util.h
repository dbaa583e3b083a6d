// Helpers shared by the libFuzzer targets in this directory (test code only).
#pragma once

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

namespace leasehold::fuzz {

// A finding: reported as a crash so that libFuzzer saves the input (run.sh looks for the text).
[[noreturn]] inline void fuzz_fail(const std::string& what) {
  std::fprintf(stderr, "FUZZ_CHECK failed: %s\n", what.c_str());
  std::abort();
}

// An invariant that must hold for every input.
#define FUZZ_CHECK(cond, what)                                                                   \
  do {                                                                                           \
    if (!(cond))                                                                                 \
      ::leasehold::fuzz::fuzz_fail(std::string(what) + " (" + #cond + ") at " + __FILE__ + ":" + \
                                   std::to_string(__LINE__));                                    \
  } while (0)

// A private directory for the files a target writes, under $LEASEHOLD_FUZZ_TMP (run.sh points it
// at its work directory, which it removes) or else $TMPDIR or /tmp. Created once per process.
inline const std::string& scratch_dir() {
  static const std::string dir = [] {
    const char* base = std::getenv("LEASEHOLD_FUZZ_TMP");
    if (!base || !*base) base = std::getenv("TMPDIR");
    if (!base || !*base) base = "/tmp";
    std::string pattern = std::string(base) + "/leasehold-fuzz.XXXXXX";
    if (!mkdtemp(pattern.data())) {
      std::perror("mkdtemp");
      std::abort();
    }
    return pattern;
  }();
  return dir;
}

inline void write_file(const std::string& path, const std::string& contents) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(contents.data(), static_cast<std::streamsize>(contents.size()));
  out.close();
  FUZZ_CHECK(out.good(), "cannot write the fuzz input to a scratch file");
}

}  // namespace leasehold::fuzz
