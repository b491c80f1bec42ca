"""Fixtures shared by the test modules."""
import pytest


@pytest.fixture
def stderr_lines(capsys):
    """A function returning the non-blank lines written to stderr since it was last called."""
    return lambda: [line for line in capsys.readouterr().err.splitlines() if line.strip()]
