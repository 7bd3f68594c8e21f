"""Parameter validation for RTL components."""

from contextlib import contextmanager

__all__ = ["validating"]


@contextmanager
def validating(component):
    """Run a component's parameter checks; on a bad parameter, raise without Amaranth's 'created but never used'
    warning, since the half-built component was never meant to be elaborated."""
    try:
        yield
    except ValueError:
        component._MustUse__silence = True
        raise
