"""What some tests need from the machine (PostgreSQL, chromium, node, unshare), and what
happens when it is missing: under `make test` or CI, which install all of it, the test fails,
so a missing part can never pass unnoticed; run by hand, it is skipped with what to install."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest

# `make test` sets NBFLOW_REQUIRE_ALL=1; CI services set CI.
_REQUIRED = ("CI", "NBFLOW_REQUIRE_ALL")


def missing(reason: str) -> NoReturn:
    """Fail where every part is required; otherwise skip, saying what is missing."""
    if any(os.environ.get(name, "").lower() not in ("", "0", "false", "no") for name in _REQUIRED):
        pytest.fail(f"{reason} (make test and CI install it: the tests need it)")
    pytest.skip(reason)
