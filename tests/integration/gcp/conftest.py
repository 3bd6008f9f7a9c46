"""Fixtures for the GCP module integration tests (helpers live in gcp_harness.py)."""

from __future__ import annotations

import pytest

from .gcp_harness import NO_DELAYS, Emulator, run_play


@pytest.fixture(scope="session")
def emulator():
    emu = Emulator()
    try:
        yield emu
    finally:
        emu.stop()


@pytest.fixture
def emu(emulator):
    """The shared emulator, reset to its seed state for this test."""
    emulator.reset()
    return emulator


@pytest.fixture
def play(emu, tmp_path):
    def _run(tasks, **kw):
        return run_play(emu, tmp_path, tasks, **kw)
    return _run


@pytest.fixture
def delays(emu):
    """Set the emulator's consistency delays for one test; always back to none afterwards."""
    def _set(**values):
        return emu.admin("POST", "consistency", values)
    yield _set
    emu.admin("POST", "consistency", NO_DELAYS)
