# Continuum — the two commands:
#   make demo   installs what is missing, builds, and serves a demo model repository
#   make test   installs what is missing, builds, and runs every test
BUILD      ?= build
BUILD_ASAN ?= build-asan
BUILD_TSAN ?= build-tsan
BUILD_FUZZ ?= build-fuzz
FUZZ_SECONDS ?= 10
# libFuzzer seed for `make fuzz`: fixed, so that CI repeats the run made here; 0 draws a new one.
FUZZ_SEED ?= 1
CMAKE_FLAGS ?=
# A failed test is run once more; .ci/run lists every test that needed it (each is a bug to fix).
CTEST_FLAGS ?= --output-on-failure -j2 --repeat until-pass:2

.PHONY: all setup pyclients build test test-unit test-asan test-tsan thread-safety tidy fuzz demo bench soak-packages soak-fleet clean

all: build

setup:
	@tools/setup.sh

# The Python clients the e2e tests speak with (tritonclient[grpc,http]), in a venv under the cache,
# and Triton's perf_analyzer beside it.
pyclients:
	@tools/pyclients.sh
	@tools/perf_analyzer.sh

$(BUILD)/build.ninja: | setup
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS)

build: setup $(BUILD)/build.ninja
	ninja -C $(BUILD)

# Unit, end-to-end and conformance tests, then a short fuzzing run of every fuzz target.
test: build pyclients
	cd $(BUILD) && ctest $(CTEST_FLAGS)
	$(MAKE) fuzz

test-unit: build
	cd $(BUILD) && ctest $(CTEST_FLAGS) -L unit

# AddressSanitizer + UndefinedBehaviorSanitizer build of the whole tree; runs unit and e2e tests.
test-asan: setup pyclients
	cmake -S . -B $(BUILD_ASAN) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCONTINUUM_SANITIZE=ON -DCONTINUUM_BENCH=OFF
	ninja -C $(BUILD_ASAN)
	cd $(BUILD_ASAN) && ASAN_OPTIONS=detect_leaks=0 ctest $(CTEST_FLAGS) -L 'unit|e2e'

# ThreadSanitizer build of the unit tests that exercise threads (ctest label `unit-threads`, listed in
# CONTINUUM_THREADED_TESTS in CMakeLists.txt); only what they need is built. Suppressions in
# tools/tsan.supp cover third-party libraries only.
TSAN_OPTIONS_ALL = suppressions=$(CURDIR)/tools/tsan.supp halt_on_error=1 second_deadlock_stack=1
test-tsan: setup
	cmake -S . -B $(BUILD_TSAN) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCONTINUUM_SANITIZE=thread -DCONTINUUM_BENCH=OFF
	ninja -C $(BUILD_TSAN) threaded_tests
	cd $(BUILD_TSAN) && TSAN_OPTIONS="$(TSAN_OPTIONS_ALL)" ctest $(CTEST_FLAGS) -L threads

# Clang's thread-safety analysis of the annotated locks (common/thread_annotations.h).
thread-safety: setup
	tools/check_thread_safety.sh

# No function over 120 lines in src/ (tools/check_function_length.py), then clang-tidy (checks in
# .clang-tidy) on the lines the last commits changed under src/ (tools/clang_tidy_changed.py:
# CONTINUUM_TIDY_COMMITS, default 20, or CONTINUUM_TIDY_BASE=REV); a finding fails.
tidy: build
	/usr/bin/python3 tools/check_function_length.py --limit 120 src
	/usr/bin/python3 tools/clang_tidy_changed.py $(BUILD)

fuzz: setup
	CC=clang CXX=clang++ cmake -S . -B $(BUILD_FUZZ) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DCONTINUUM_FUZZ=ON -DCONTINUUM_BENCH=OFF
	ninja -C $(BUILD_FUZZ) fuzz_targets
	tools/run_fuzzers.sh $(BUILD_FUZZ) $(FUZZ_SECONDS) $(FUZZ_SEED)

demo: build
	tools/demo.sh $(BUILD)

# Packages killed (SIGKILL) 200 times each: `continuum install` mid-install while a poll-mode server
# answers, and `continuum pull` at points across its work (`make test` runs a few of each, in
# tests/e2e/test_install.py and tests/e2e/test_registry.py).
soak-packages: build
	cd tests/e2e && CONTINUUM_INSTALL_KILL_ITERATIONS=200 CONTINUUM_PULL_KILL_ITERATIONS=200 \
	  CONTINUUM_BIN=$(CURDIR)/$(BUILD)/bin/continuum CONTINUUM_TEST_MODELS=$(CURDIR)/$(BUILD)/test_models \
	  CONTINUUM_TEST_PKI=$(CURDIR)/$(BUILD)/test_pki /usr/bin/python3 -m unittest -v \
	  test_install.InstallFaultTest.test_kill_during_install_never_serves_a_mix \
	  test_registry.RegistryTest.test_kill_9_during_pull_keeps_the_old_package_or_the_whole_new_one

# The fleet's faults, long: the agent killed (SIGKILL) 100 times during installs, the hub-agent link
# flapping for 10 minutes, the hub down for 3 minutes while nodes serve and an agent restarts.
soak-fleet: build
	cd tests/e2e && CONTINUUM_FLEET_KILL_ITERATIONS=100 CONTINUUM_FLEET_FLAP_SECONDS=600 CONTINUUM_FLEET_HUB_DOWN_SECONDS=180 \
	  CONTINUUM_BIN=$(CURDIR)/$(BUILD)/bin/continuum CONTINUUM_TEST_MODELS=$(CURDIR)/$(BUILD)/test_models \
	  CONTINUUM_TEST_PKI=$(CURDIR)/$(BUILD)/test_pki /usr/bin/python3 -m unittest -v test_fleet.FleetFaultTest \
	  test_fleet.FleetTest.test_hub_down_nodes_keep_serving_and_reconnect_as_a_diff

bench: build
	@tools/setup.sh --bench
	bench/run_all.sh $(BUILD)

clean:
	rm -rf $(BUILD) $(BUILD_ASAN) $(BUILD_TSAN) $(BUILD_FUZZ)
