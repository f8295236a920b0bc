"""Fixtures shared by every test folder. Helper functions live in tests/helpers.py.

Test folders (data, cli, network, analysis, experiments, profiling, ...) carry no __init__.py:
each test module is imported by its basename, so basenames must be unique across folders, and
tests/ (this file's directory) is on sys.path, which makes `from helpers import ...` work.
"""
import numpy as np
import pytest

# Re-exported for test modules that still write `from conftest import ...`; new code imports
# them from helpers.
from helpers import (assert_gradients_close, assert_within_bound, dot_error_bound,  # noqa: F401
                     gradient_errors, numerical_gradient)


@pytest.fixture
def rng():
    """A fresh, fixed-seed generator for each test."""
    return np.random.default_rng(20261125)


@pytest.fixture(autouse=True, scope="session")
def _dev_null_stays_a_device():
    """The command-line tests give programs special files as outputs; after the session the
    machine's /dev/null must still be the character device (an atomic write that slipped past an
    output check would have replaced it with a regular file)."""
    import os
    import stat
    yield
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode), "a test replaced /dev/null with a regular file"
