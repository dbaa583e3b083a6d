# leasehold: `make demo` and `make test` are all a fresh machine needs; both set themselves up
# (`make deps` installs Debian packages, as root). `make build` only checks that the packages are
# there (scripts/check-deps.sh) and needs no root.
SHELL := /bin/bash
BUILD_DIR ?= build
BUILD_TYPE ?= RelWithDebInfo
JOBS ?= $(shell nproc)
export PATH := $(PATH):/usr/local/go/bin

# cluster_test.sh runs after image_test.sh, whose docker build it reuses (layer cache).
E2E_SUITES := tests/e2e/docs_test.sh tests/e2e/config_test.sh tests/e2e/controlplane_smoke.sh tests/e2e/agent_test.sh tests/e2e/demo_test.sh \
              tests/e2e/features_test.sh tests/e2e/scale_test.sh tests/e2e/shards_test.sh tests/e2e/abuse_test.sh tests/e2e/health_test.sh \
              tests/e2e/chart_test.sh tests/e2e/alerts_test.sh tests/e2e/image_test.sh tests/e2e/cluster_test.sh
# The tests of the test tools (time limits, the fault proxy, the soak's growth fit), the fault
# cases, short seeded chaos runs (one election, and a sharded one), a 4-minute soak (resources of
# long-lived agents under churn must not keep growing), 20 s of fuzzing per target and the
# sanitizer builds (ASan+UBSan, TSan: unit and agent e2e) are part of `make test`; longer runs:
# `make fuzz`, `make chaos` (DURATION=seconds, SHARDS=N for a sharded election), `make soak`
# (DURATION=seconds, default an hour). Benchmarks (`make bench`) run on their own.
CI_FUZZ_SECONDS ?= 20
CI_SOAK_SECONDS ?= 240
HARDENING_SUITES := "tests/lib/process_group_test.sh" "tests/faults/faultproxy_test.sh" "tests/soak/fit_test.sh" "tests/faults/run.sh" \
                    "tests/faults/chaos.sh 45" "tests/faults/chaos.sh --shards 8 30" "tests/soak/soak.sh $(CI_SOAK_SECONDS)" \
                    "tests/fuzz/run.sh $(CI_FUZZ_SECONDS)" "scripts/sanitize.sh"

.PHONY: all deps check-deps build tools previous unit e2e hardening test demo format format-check lint clean faults chaos soak fuzz sanitize bench
DURATION ?= 60
# REPEAT=N runs the suites (`make e2e`, `make hardening`) or the fault cases (`make faults`) N times
# over and prints each one's pass rate; CASES picks fault cases by number or name ("22 23").
REPEAT ?= 1
CASES ?=
SHARDS ?= 0
FUZZ_SECONDS ?= 30

all: build

deps:
	@bash scripts/install-deps.sh

check-deps:
	@bash scripts/check-deps.sh

build: check-deps
	cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) -DLEASEHOLD_WERROR=ON >/dev/null
	cmake --build $(BUILD_DIR) -j $(JOBS)

tools: deps
	bash tests/tools/build.sh
	bash tests/tools/build-cluster.sh

# The previous release's agent, for fault case 26 (mixed versions): tests/compat/previous-release.
previous: check-deps
	bash tests/compat/build-previous.sh

unit: build
	cd $(BUILD_DIR) && ctest --output-on-failure

e2e: build tools
	REPEAT=$(REPEAT) bash tests/run_suites.sh $(E2E_SUITES)

hardening: build tools previous
	REPEAT=$(REPEAT) bash tests/run_suites.sh $(HARDENING_SUITES)

test: deps
	$(MAKE) unit
	$(MAKE) tools
	$(MAKE) previous
	bash tests/run_suites.sh $(E2E_SUITES) $(HARDENING_SUITES)

demo: deps
	$(MAKE) build tools
	bash scripts/demo.sh

faults: build tools previous
	REPEAT=$(REPEAT) bash tests/faults/run.sh $(CASES)

chaos: build tools
	bash tests/faults/chaos.sh --shards $(SHARDS) $(DURATION)

# DURATION defaults to 60 for chaos; the soak's default is an hour unless DURATION is given.
soak: build tools
	bash tests/soak/soak.sh $(if $(filter file,$(origin DURATION)),3600,$(DURATION))

fuzz: deps
	bash tests/fuzz/run.sh $(FUZZ_SECONDS)

sanitize: deps tools
	bash scripts/sanitize.sh

bench: build tools
	bash bench/run.sh

format:
	clang-format -i $$(git ls-files '*.cc' '*.h')

format-check:
	clang-format --dry-run -Werror $$(git ls-files '*.cc' '*.h')

# shellcheck on every shell script (settings: .shellcheckrc)
lint:
	@bash scripts/lint.sh

clean:
	rm -rf $(BUILD_DIR)
