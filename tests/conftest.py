"""Shared fixtures. Kernel tests parametrize over both implementations with `dsp_impl`."""

from __future__ import annotations

import pytest

from cython_ext import IMPLEMENTATIONS


@pytest.fixture(params=IMPLEMENTATIONS)
def dsp_impl(request: pytest.FixtureRequest) -> str:
    """Run a kernel test once on the compiled kernel and once on the reference twin."""
    return str(request.param)
