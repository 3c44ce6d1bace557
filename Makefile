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

.PHONY: all lib venv venv-all ext test test-c test-py demo bench bench-quick fuzz clean

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

# the extension, rebuilt in place whenever the core changes
$(EXT_STAMP): $(CORE_SRC) $(CORE_HDR) build_ffi.py $(VENV)/.base
	$(VPY) setup.py -q build_ext --inplace
	touch $@

ext: $(EXT_STAMP)

# ---- tests ---------------------------------------------------------------
test: test-c test-py

test-c: $(C_TESTS)
	@set -e; for t in $(C_TESTS); do echo "== $$t"; $$t; done

test-py: $(VENV)/.all $(EXT_STAMP)
	$(VPY) -m pytest -q

# ---- demo and benchmarks ---------------------------------------------------
demo: $(EXT_STAMP)
	$(VPY) examples/run_demo.py

bench: $(VENV)/.all $(EXT_STAMP) lib
	$(VPY) bench/run.py

bench-quick: $(VENV)/.all $(EXT_STAMP) lib
	$(VPY) bench/run.py --quick

clean:
	rm -rf $(BUILD) chronicle/_chronicle*.so chronicle/_chronicle.c $(EXT_STAMP) *.egg-info
