"""Parameter validation for RTL components."""

from contextlib import contextmanager

from amaranth.hdl import Elaboratable

__all__ = ["validating"]


@contextmanager
def validating(component):
    """Run a component's parameter checks; on a bad parameter, raise without Amaranth's 'created but never used'
    warning, for the half-built component and for the parts it had built so far (attributes holding elaboratables,
    or lists of them): none of them was meant to be elaborated."""
    try:
        yield
    except ValueError:
        for unit in (component, *_parts(component)):
            unit._MustUse__silence = True
        raise


def _parts(component):
    for value in vars(component).values():
        for item in value if isinstance(value, (list, tuple)) else (value,):
            if isinstance(item, Elaboratable):
                yield item
