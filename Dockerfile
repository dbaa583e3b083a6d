# leasehold container image.
#
#   docker/base-image.sh                                   # once: builds the FROM image from Debian's archive
#   docker build --network host -t leasehold:dev .         # default target: the minimal image
#   docker build --network host --target runtime-debian -t leasehold:debian .   # the slim Debian variant
#
# Stages:
#   build           Debian bookworm + build deps; configures, builds (Release), runs the unit tests,
#                   then gathers the binary and exactly the shared libraries `ldd` lists into /rootfs.
#   runtime-debian  the base image + the Debian packages that own those libraries + the binary.
#   runtime         (default, last) FROM scratch: the binary, its libraries, the dynamic loader,
#                   an ld.so cache, a minimal /etc, and Debian's static busybox as /bin/sh (and
#                   nothing else of busybox on PATH) so that the hooks (`sh -c COMMAND`) run.
#                   No package manager.
#
# Sizes measured on 0.1.0 (`docker image inspect -f '{{.Size}}'`; see docs/packaging.md):
#   runtime (scratch + ldd's libraries)  17.8 MB   <- the default: smaller, and works
#     + busybox-static as /bin/sh        +2.0 MB   (hooks; see docs/packaging.md)
#   runtime-debian                        94.5 MB   (the debootstrap minbase alone is 81.5 MB)
#
# Works with a read-only root filesystem: the agent writes only to --status-dir (mount an emptyDir
# or a tmpfs there). Runs as the numeric non-root user 65532.

ARG BASE_IMAGE=leasehold-base/debian:bookworm

# ---------------------------------------------------------------------------------------------
FROM ${BASE_IMAGE} AS build
ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      cmake g++ make binutils busybox-static \
      libcpprest-dev nlohmann-json3-dev libyaml-cpp-dev prometheus-cpp-dev doctest-dev \
      libboost-dev libssl-dev zlib1g-dev \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /src
COPY . .
# CTEST_ARGS lets a build skip or select tests, e.g. --build-arg CTEST_ARGS="-L unit".
ARG CTEST_ARGS=""
RUN cmake -S . -B /build -DCMAKE_BUILD_TYPE=Release \
 && cmake --build /build -j"$(nproc)" \
 && ctest --test-dir /build --output-on-failure --timeout 600 $CTEST_ARGS \
 && strip --strip-unneeded -o /leasehold /build/leasehold

# /rootfs: the binary plus every shared object `ldd` resolves (the dynamic loader included), each at
# the path ldd prints, an ld.so cache for those folders, and a minimal /etc for the non-root user.
# /rootfs.packages: the Debian packages owning those libraries, for the runtime-debian stage.
RUN set -eu; \
    mkdir -p /rootfs/etc /rootfs/run/leasehold /rootfs/bin; \
    cp /leasehold /rootfs/leasehold; \
    cp /bin/busybox /rootfs/bin/sh; \
    ldd /leasehold | tee /rootfs.ldd \
      | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' | sort -u >/rootfs.libs; \
    if grep -q 'not found' /rootfs.ldd; then echo "unresolved libraries" >&2; exit 1; fi; \
    while read -r lib; do \
      mkdir -p "/rootfs$(dirname "$lib")"; cp -L "$lib" "/rootfs$lib"; \
      pkg="$(dpkg -S "*/$(basename "$lib")" | head -n 1 | cut -d: -f1)"; \
      [ -n "$pkg" ] || { echo "no package owns $lib" >&2; exit 1; }; \
      echo "$pkg" >>/rootfs.packages.all; \
    done </rootfs.libs; \
    sort -u /rootfs.packages.all >/rootfs.packages; \
    awk '{ sub(/\/[^\/]*$/, ""); print }' /rootfs.libs | sort -u >/rootfs/etc/ld.so.conf; \
    ldconfig -r /rootfs; \
    printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' >/rootfs/etc/passwd; \
    printf 'root:x:0:\nnonroot:x:65532:\n' >/rootfs/etc/group; \
    printf 'hosts: files dns\n' >/rootfs/etc/nsswitch.conf; \
    chown 65532:65532 /rootfs/run/leasehold; \
    echo "runtime libraries:"; cat /rootfs.libs; echo "runtime packages:"; cat /rootfs.packages

# ---------------------------------------------------------------------------------------------
FROM ${BASE_IMAGE} AS runtime-debian
COPY --from=build /rootfs.packages /tmp/runtime.packages
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $(cat /tmp/runtime.packages) \
 && rm -rf /var/lib/apt/lists/* /tmp/runtime.packages \
 && install -d -o 65532 -g 65532 /run/leasehold
COPY --from=build /leasehold /leasehold
ARG VERSION=0.0.0-dev
ARG SOURCE=""
ARG LICENSES=NOASSERTION
LABEL org.opencontainers.image.title="leasehold" \
      org.opencontainers.image.description="Kubernetes leader-election sidecar (Debian variant)" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.licenses="${LICENSES}" \
      org.opencontainers.image.version="${VERSION}"
USER 65532:65532
ENTRYPOINT ["/leasehold"]

# ---------------------------------------------------------------------------------------------
FROM scratch AS runtime
COPY --from=build /rootfs/ /
ARG VERSION=0.0.0-dev
ARG SOURCE=""
ARG LICENSES=NOASSERTION
LABEL org.opencontainers.image.title="leasehold" \
      org.opencontainers.image.description="Kubernetes leader-election sidecar: holds a coordination.k8s.io/v1 Lease and tells its pod's main container whether it leads" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.licenses="${LICENSES}" \
      org.opencontainers.image.version="${VERSION}"
USER 65532:65532
ENTRYPOINT ["/leasehold"]
