"""The CLI tests reuse the completions tests' fault-injecting loopback server."""

from tests.completions.conftest import fault

__all__ = ["fault"]
