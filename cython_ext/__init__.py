"""DSP kernels for callbox: G.711, DTMF, tones, caller ID, call progress, echo cancellation.

Each kernel `name` has three modules:
- `_name.pyx`: the compiled kernel (`cython_ext._name`), `nogil` inner loops on typed memoryviews;
- `_name_ref.py`: the pure-Python reference twin with the same classes and methods;
- `name.py`: the public API (docstrings, types) that picks one of the two through `kernel()`.

Which implementation runs is chosen once, by `CALLBOX_DSP_IMPL` (`compiled`, the default, or
`reference`), logged, and reported by `implementation()` for `status`. A missing compiled kernel
is an error, never a silent fallback to the twin.
"""

from __future__ import annotations

import importlib
import logging
import os
from types import ModuleType

log = logging.getLogger(__name__)

IMPLEMENTATIONS = ("compiled", "reference")
_ENV = "CALLBOX_DSP_IMPL"
_announced: set[str] = set()


class KernelImportError(ImportError):
    """The compiled kernel asked for is not built."""


def implementation() -> str:
    """The implementation the process uses: `compiled` or `reference`."""
    impl = os.environ.get(_ENV, "compiled")
    if impl not in IMPLEMENTATIONS:
        raise ValueError(f"{_ENV}={impl!r}: expected one of {', '.join(IMPLEMENTATIONS)}")
    return impl


def kernel(name: str, impl: str | None = None) -> ModuleType:
    """Return the module implementing kernel `name` (`impl` overrides the process default)."""
    impl = impl or implementation()
    if impl not in IMPLEMENTATIONS:
        raise ValueError(f"unknown DSP implementation {impl!r}")
    modname = f"cython_ext._{name}" if impl == "compiled" else f"cython_ext._{name}_ref"
    try:
        mod = importlib.import_module(modname)
    except ImportError as exc:
        if impl == "compiled":
            raise KernelImportError(
                f"compiled DSP kernel {modname} is not built ({exc}); build it with "
                f"`make build` (or set {_ENV}=reference to run the pure-Python twins)"
            ) from exc
        raise
    if modname not in _announced:
        _announced.add(modname)
        log.info("DSP kernel %s: %s implementation (%s)", name, impl, modname)
    return mod
