"""Builds every DSP kernel in cython_ext/ (each `_name.pyx` becomes `cython_ext._name`).

Compiler directives live at the top of each .pyx file, so the same flags apply whether a kernel
is built here or with `cythonize -i cython_ext/_name.pyx` during development.
"""

from pathlib import Path

import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup

HERE = Path(__file__).parent

extensions = [
    Extension(
        f"cython_ext.{pyx.stem}",
        [str(pyx.relative_to(HERE))],
        include_dirs=[numpy.get_include(), str(HERE / "cython_ext")],
        extra_compile_args=["-O3", "-fno-math-errno", "-Wno-unreachable-code"],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
    )
    for pyx in sorted((HERE / "cython_ext").glob("_*.pyx"))
]

setup(ext_modules=cythonize(extensions, language_level=3, nthreads=2))
