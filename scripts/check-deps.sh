#!/usr/bin/env bash
# Checks, without root and without installing anything, that what `make build` needs is on the
# machine: the compiler and build commands, the CMake packages CMakeLists.txt finds and the
# headers they pull in. Names each missing piece with the Debian package that provides it and
# exits 1; `make deps` (scripts/install-deps.sh, as root) installs them.
set -uo pipefail

# Debian package | what it provides: cmd:COMMAND, cmake:PACKAGE (its CMake config file) or
# header:PATH (below an include directory).
checks=(
  "cmake|cmd:cmake"
  "make|cmd:make"
  "g++|cmd:g++"
  "pkg-config|cmd:pkg-config"
  "libcpprest-dev|cmake:cpprestsdk"
  "nlohmann-json3-dev|cmake:nlohmann_json"
  "libyaml-cpp-dev|cmake:yaml-cpp"
  "prometheus-cpp-dev|cmake:prometheus-cpp"
  "doctest-dev|cmake:doctest"
  "libboost-dev|header:boost/version.hpp"
  "libssl-dev|header:openssl/ssl.h"
  "zlib1g-dev|header:zlib.h"
)
cmake_dirs=(/usr/lib/cmake /usr/share/cmake /usr/local/lib/cmake /usr/local/share/cmake /usr/lib/*-linux-gnu/cmake)
include_dirs=(/usr/include /usr/local/include /usr/include/*-linux-gnu)

# has_cmake_package NAME: NAMEConfig.cmake or name-config.cmake in a CMake package directory.
has_cmake_package() {
  local d lower
  lower="$(echo "$1" | tr '[:upper:]' '[:lower:]')"
  for d in "${cmake_dirs[@]}"; do
    if [ -f "$d/$1/$1Config.cmake" ] || [ -f "$d/$1/$lower-config.cmake" ]; then return 0; fi
  done
  return 1
}
has_header() {
  local d
  for d in "${include_dirs[@]}"; do [ -f "$d/$1" ] && return 0; done
  return 1
}

missing=()
packages=()
for check in "${checks[@]}"; do
  package="${check%%|*}" what="${check#*|}"
  case "$what" in
    cmd:*) command -v "${what#cmd:}" >/dev/null && continue; what="command ${what#cmd:}" ;;
    cmake:*) has_cmake_package "${what#cmake:}" && continue; what="CMake package ${what#cmake:}" ;;
    header:*) has_header "${what#header:}" && continue; what="header ${what#header:}" ;;
  esac
  missing+=("  $what (Debian package $package)")
  packages+=("$package")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "deps: the build needs what is missing here:" >&2
  printf '%s\n' "${missing[@]}" >&2
  echo "deps: \`make deps\` installs them (as root; or: apt-get install ${packages[*]})" >&2
  exit 1
fi
