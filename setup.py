"""Builds the compiled match kernel; everything else is declared in pyproject.toml."""

import platform

from Cython.Build import cythonize
from setuptools import Extension, setup

# popcnt is in every x86-64 CPU of the last fifteen years; without the flag GCC emits a
# bit-twiddling fallback that is several times slower.
flags = ["-O3"]
if platform.machine() in ("x86_64", "AMD64"):
    flags.append("-mpopcnt")

setup(
    ext_modules=cythonize(
        [
            Extension(
                "hashshare.matching._kernel",
                ["services/hashshare/matching/_kernel.pyx"],
                extra_compile_args=flags,
            )
        ],
        compiler_directives={"language_level": "3"},
    )
)
