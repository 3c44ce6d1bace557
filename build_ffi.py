"""Build the ``chronicle._chronicle`` extension with cffi in API mode.

The declarations come from ``csrc/chronicle.cdef`` (a real file, in the subset
of C that cffi parses); the sources are the C core in ``csrc/``.
"""
from __future__ import annotations

import platform
import sys
from pathlib import Path

from cffi import FFI

ROOT = Path(__file__).resolve().parent
CSRC = ROOT / "csrc"

# x86-64 builds use SSE4.2's crc32 instruction inline (x86-64-v2)
ARCH_FLAGS = ["-msse4.2"] if platform.machine().lower() in ("x86_64", "amd64") else []

SOURCES = sorted(str(p.relative_to(ROOT)) for p in CSRC.glob("*.c"))

ffibuilder = FFI()
ffibuilder.cdef((CSRC / "chronicle.cdef").read_text())
ffibuilder.set_source(
    "chronicle._chronicle",
    '#include "cffi_gil.h"',  # chronicle.h, and which calls release the GIL
    sources=SOURCES,
    include_dirs=[str(CSRC.relative_to(ROOT))],
    extra_compile_args=["-std=c11", "-O2", "-Wall", "-Wextra", "-fvisibility=hidden", *ARCH_FLAGS]
    if sys.platform != "win32"
    else [],
    libraries=["pthread"] if sys.platform.startswith("linux") else [],
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=False)
