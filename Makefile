# Chronicle — build, test, demo, benchmarks.
#   make demo   the feed -> strategy -> router demo (creates .venv, builds)
#   make test   every test, C and Python (creates .venv with every extra)
#   make lib    static and shared C libraries in build/
#   make bench  benchmarks (bench-quick: the short version)

PYTHON ?= python3
VENV   := .venv
VPY    := $(VENV)/bin/python
BUILD  := build
CC     ?= cc
# x86-64 builds use SSE4.2's crc32 instruction inline (x86-64-v2, every CPU since 2008)
ARCH_FLAGS := $(if $(filter x86_64 amd64,$(shell uname -m)),-msse4.2,)
CSTD   := -std=c11 -Wall -Wextra -Werror $(ARCH_FLAGS)
CFLAGS_LIB := $(CSTD) -O2 -fPIC -pthread
CFLAGS_SAN := $(CSTD) -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all -pthread

CORE_SRC := $(wildcard csrc/*.c)
CORE_HDR := $(wildcard csrc/*.h) csrc/chronicle.cdef
C_TESTS  := $(patsubst tests/c/%.c,$(BUILD)/san/%,$(filter-out tests/c/test_util.c,$(wildcard tests/c/test_*.c)))
EXT_STAMP := chronicle/.ext-built

.PHONY: all lib venv venv-all ext test test-c test-py ensure-strace demo bench bench-quick bench-bin fuzz clean

all: lib ext

# ---- C libraries --------------------------------------------------------
lib: $(BUILD)/libchronicle.a $(BUILD)/libchronicle.so

$(BUILD)/obj/%.o: csrc/%.c $(CORE_HDR)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_LIB) -c $< -o $@

$(BUILD)/libchronicle.a: $(patsubst csrc/%.c,$(BUILD)/obj/%.o,$(CORE_SRC))
	ar rcs $@ $^

$(BUILD)/libchronicle.so: $(patsubst csrc/%.c,$(BUILD)/obj/%.o,$(CORE_SRC))
	$(CC) -shared -pthread -o $@ $^

# the core again, with ASan/UBSan, for the C tests and the fuzz target
$(BUILD)/san/libchronicle.a: $(CORE_SRC) $(CORE_HDR)
	@mkdir -p $(BUILD)/san/obj
	cd $(BUILD)/san/obj && for f in $(CORE_SRC); do $(CC) $(CFLAGS_SAN) -c ../../../$$f || exit 1; done
	ar rcs $@ $(BUILD)/san/obj/*.o

$(BUILD)/san/test_%: tests/c/test_%.c tests/c/test_util.h $(BUILD)/san/libchronicle.a
	$(CC) $(CFLAGS_SAN) -Icsrc -o $@ $< $(BUILD)/san/libchronicle.a

# ---- fuzz target (fuzz/) -------------------------------------------------
# `make fuzz FUZZ_SECONDS=60`: libFuzzer when clang has it (FUZZ_ENGINE=auto),
# else the gcc standalone driver. The seed corpus is made from real appends.
FUZZ_SECONDS ?= 60
FUZZ_ENGINE  ?= auto
FUZZ_SMOKE_RUNS ?= 2000
CLANG  ?= clang
FUZZ_CORPUS := $(BUILD)/fuzz/corpus

$(BUILD)/fuzz/make_corpus: fuzz/make_corpus.c $(BUILD)/san/libchronicle.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_SAN) -Icsrc -o $@ $< $(BUILD)/san/libchronicle.a

$(BUILD)/fuzz/standalone: fuzz/standalone.c fuzz/fuzz_segment.c $(BUILD)/san/libchronicle.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_SAN) -Icsrc -o $@ fuzz/standalone.c fuzz/fuzz_segment.c $(BUILD)/san/libchronicle.a

$(FUZZ_CORPUS)/.made: $(BUILD)/fuzz/make_corpus
	rm -rf $(FUZZ_CORPUS)
	$(BUILD)/fuzz/make_corpus $(FUZZ_CORPUS)
	touch $@

# the core compiled again by clang, with libFuzzer's coverage instrumentation
$(BUILD)/fuzz/libfuzzer/fuzz_segment: fuzz/fuzz_segment.c $(CORE_SRC) $(CORE_HDR)
	@mkdir -p $(dir $@)
	$(CLANG) $(CSTD) -O1 -g -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined \
	  -fno-sanitize-recover=all -pthread -Icsrc -o $@ fuzz/fuzz_segment.c $(CORE_SRC)

fuzz: $(FUZZ_CORPUS)/.made $(BUILD)/fuzz/standalone
	@engine=$(FUZZ_ENGINE); \
	if [ $$engine = auto ]; then engine=standalone; \
	  printf 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { return (int)(d[0] & n); }\n' \
	    | $(CLANG) -fsanitize=fuzzer -x c - -o $(BUILD)/fuzz/probe >/dev/null 2>&1 && engine=libfuzzer; \
	fi; \
	echo "fuzz: $$engine engine, $(FUZZ_SECONDS) s"; \
	if [ $$engine = libfuzzer ]; then \
	  $(MAKE) --no-print-directory $(BUILD)/fuzz/libfuzzer/fuzz_segment && mkdir -p $(BUILD)/fuzz/corpus-run && \
	  $(BUILD)/fuzz/libfuzzer/fuzz_segment -max_total_time=$(FUZZ_SECONDS) -max_len=262144 \
	    -print_final_stats=1 -artifact_prefix=$(BUILD)/fuzz/ $(BUILD)/fuzz/corpus-run $(FUZZ_CORPUS); \
	else \
	  $(BUILD)/fuzz/standalone -t $(FUZZ_SECONDS) -a $(BUILD)/fuzz/crash- $(FUZZ_CORPUS); \
	fi

# ---- Python environment ----------------------------------------------------
$(VENV)/.base: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install -q --upgrade pip
	$(VPY) -m pip install -q -e .
	touch $@

$(VENV)/.all: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install -q --upgrade pip
	$(VPY) -m pip install -q -e '.[all,dev]'
	touch $@ $(VENV)/.base

venv: $(VENV)/.base
venv-all: $(VENV)/.all

# the extension, rebuilt in place whenever the core changes (--force:
# setuptools would skip sources whose headers alone changed)
$(EXT_STAMP): $(CORE_SRC) $(CORE_HDR) build_ffi.py $(VENV)/.base
	$(VPY) setup.py -q build_ext --inplace --force
	touch $@

ext: $(EXT_STAMP)

# ---- tests ---------------------------------------------------------------
test: test-c test-py

# exit status 77 = skipped; then a short, fixed-seed round of the fuzz target
test-c: $(C_TESTS) $(BUILD)/fuzz/standalone $(FUZZ_CORPUS)/.made
	@for t in $(C_TESTS); do echo "== $$t"; rc=0; $$t || rc=$$?; \
	  if [ $$rc = 77 ]; then echo "   (skipped)"; elif [ $$rc != 0 ]; then exit $$rc; fi; done
	$(BUILD)/fuzz/standalone -n $(FUZZ_SMOKE_RUNS) -t 20 -s 1 -a $(BUILD)/fuzz/crash- $(FUZZ_CORPUS)

test-py: $(VENV)/.all $(EXT_STAMP) ensure-strace
	$(VPY) -m pytest -q

# tests/test_syscalls.py counts system calls with strace (skipped without it)
ensure-strace:
	@command -v strace >/dev/null 2>&1 || [ "$$(uname -s)" != Linux ] || \
	  ( sudo=$$([ "$$(id -u)" = 0 ] || echo sudo -n); \
	    $$sudo apt-get update -qq && $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq strace ) || \
	  echo "note: strace could not be installed; tests/test_syscalls.py will be skipped"

# ---- demo and benchmarks ---------------------------------------------------
demo: $(EXT_STAMP)
	$(VPY) examples/run_demo.py

# C benchmarks: one program per bench/c/*.c that has a main, linked against
# the static library
BENCH_SHARED := bench/c/util.c bench/c/hist.c
BENCH_BIN := $(patsubst bench/c/%.c,$(BUILD)/bench/%,$(filter-out $(BENCH_SHARED),$(wildcard bench/c/*.c)))

$(BUILD)/bench/%: bench/c/%.c $(BENCH_SHARED) $(wildcard bench/c/*.h) $(BUILD)/libchronicle.a
	@mkdir -p $(dir $@)
	$(CC) $(CSTD) -O2 -pthread -Icsrc -Ibench/c -o $@ $< $(BENCH_SHARED) $(BUILD)/libchronicle.a -lm

bench-bin: $(BENCH_BIN)

bench: $(VENV)/.all $(EXT_STAMP) lib bench-bin
	$(VPY) bench/run.py

bench-quick: $(VENV)/.all $(EXT_STAMP) lib bench-bin
	$(VPY) bench/run.py --quick

clean:
	rm -rf $(BUILD) chronicle/_chronicle*.so chronicle/_chronicle.c $(EXT_STAMP) *.egg-info
