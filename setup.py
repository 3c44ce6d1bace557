# cffi_modules is a setuptools keyword that pyproject.toml cannot carry yet.
from setuptools import setup

setup(cffi_modules=["build_ffi.py:ffibuilder"])
