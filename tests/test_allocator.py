"""The command line's malloc tuning applies on glibc (this machine) and is harmless to repeat."""

import platform

import pytest

from streamliq.allocator import keep_freed_memory


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_glibc_takes_the_settings():
    assert keep_freed_memory() is True
    assert keep_freed_memory() is True
