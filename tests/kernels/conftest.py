"""Fixtures for the kernel tests."""
import pytest


@pytest.fixture(autouse=True, scope="session")
def _fresh_kernel_cache():
    """These tests call the kernels directly: flush on-disk caches a kernels/ edit made stale
    (kernels/runtime.py), as training and the benchmarks do before they start."""
    from kernels import runtime
    runtime.ensure_fresh_cache()
