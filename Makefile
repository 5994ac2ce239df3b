# wasp — the two commands: `make run` and `make test` (see README.md).
# meson + ninja do the building; this file keeps the entry points short.

BUILD      ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 20
PYTEST     = /usr/bin/python3 -m pytest

.PHONY: all deps run test unit integration asan fuzz bench clean format

all: deps $(BUILD)/build.ninja
	ninja -C $(BUILD)

deps:
	@scripts/deps.sh build

$(BUILD)/build.ninja:
	meson setup $(BUILD) --buildtype=debugoptimized

$(ASAN_BUILD)/build.ninja:
	meson setup $(ASAN_BUILD) --buildtype=debug -Db_sanitize=address,undefined -Db_lundef=false

$(FUZZ_BUILD)/build.ninja:
	CC=clang meson setup $(FUZZ_BUILD) --buildtype=debug -Dfuzz=true \
	  -Db_sanitize=address,undefined -Db_lundef=false

# Serve conf/wwwroot on http://127.0.0.1:8080/ in the foreground.  Runtime
# files go to /run/wasp as root (waspd's default), else to a private /tmp dir.
RUNTIME_DIR ?= $(shell [ "$$(id -u)" = 0 ] && echo /run/wasp || echo /tmp/wasp-run-$$(id -un))
run: all
	$(BUILD)/waspd --config conf/applicationHost.config --runtime-dir $(RUNTIME_DIR)

test:
	@scripts/deps.sh test
	$(MAKE) all
	$(MAKE) unit integration asan fuzz

unit: $(BUILD)/build.ninja
	ninja -C $(BUILD)
	meson test -C $(BUILD) --print-errorlogs --suite unit --suite fuzz-replay

integration:
	WASP_BUILD=$(CURDIR)/$(BUILD) $(PYTEST) -q tests/integration

# The same tests once more against an ASan+UBSan build.
asan: $(ASAN_BUILD)/build.ninja
	ninja -C $(ASAN_BUILD)
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  meson test -C $(ASAN_BUILD) --print-errorlogs --suite unit --suite fuzz-replay
	# handle_segv=0: TestModule's op=crash must die of SIGSEGV as in a normal
	# build; memory errors are still caught by ASan's own checks.
	ASAN_OPTIONS=detect_leaks=1:handle_segv=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  WASP_BUILD=$(CURDIR)/$(ASAN_BUILD) WASP_SANITIZED=1 $(PYTEST) -q tests/integration

# libFuzzer, a short bounded run of every target (make fuzz FUZZ_SECONDS=600 for longer).
fuzz: $(FUZZ_BUILD)/build.ninja
	ninja -C $(FUZZ_BUILD)
	@for t in fuzz_h1_request fuzz_chunked fuzz_url_canon fuzz_fcgi_decode fuzz_cgi_response fuzz_schema_value fuzz_config_load; do \
	  mkdir -p $(FUZZ_BUILD)/corpus/$$t; \
	  $(FUZZ_BUILD)/tests/$$t -max_total_time=$(FUZZ_SECONDS) -print_final_stats=0 \
	    $(FUZZ_BUILD)/corpus/$$t tests/fuzz/corpus/$$t >$(FUZZ_BUILD)/$$t.log 2>&1 \
	    || { tail -40 $(FUZZ_BUILD)/$$t.log; exit 1; }; \
	  echo "fuzz $$t: $$(grep -o 'Done [0-9]* runs' $(FUZZ_BUILD)/$$t.log) in $(FUZZ_SECONDS)s"; \
	done

bench: all
	@scripts/deps.sh bench
	bench/run.sh

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
