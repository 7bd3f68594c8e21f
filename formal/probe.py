"""White-box access to a block for its properties: the block elaborated by the wrapper itself, so the wrapper can read
the block's internal registers by name and a mutant can add statements that override the block's own.

An Amaranth ``Module`` applies the last assignment to a signal in a domain, so a mutant written as
``with m.If(cond): m.d.sync += reg.eq(wrong)`` after the block's statements breaks the block exactly where ``cond``
holds, without touching its source. Uses Amaranth 0.5's ``Module._statements`` (the version is pinned).
"""

from dataclasses import dataclass

from amaranth.asserts import AnySeq
from amaranth.hdl import Value

__all__ = ["Opened", "open_block", "free"]


@dataclass
class Opened:
    """A block's elaborated module (``module``, to be added as the wrapper's submodule), the signals it assigns by
    name (``signals``) and its submodules by name (``submodules``, not yet elaborated: their ports are their
    attributes)."""
    module: object
    signals: dict
    submodules: dict

    def __getitem__(self, name):
        try:
            return self.signals[name]
        except KeyError:
            raise KeyError(f"the block assigns no signal named {name!r}; it has {sorted(self.signals)}") from None


def open_block(block, platform=None):
    """Elaborate ``block`` (a wiring.Component) and return it :class:`Opened`. The block itself is never added to a
    design (its module is), so Amaranth's unused-elaboratable warning is silenced for it."""
    block._MustUse__silence = True
    m = block.elaborate(platform)
    signals = {}
    for statements in m._statements.values():
        for stmt in statements:
            for sig in stmt._lhs_signals():
                signals.setdefault(sig.name, sig)
    submodules = {name: sub[0] if isinstance(sub, tuple) else sub for name, sub in m._named_submodules.items()}
    return Opened(m, signals, submodules)


def free(m, *ports):
    """Drive each of ``ports`` (signals or views) with a free value every cycle (the solver chooses it)."""
    for port in ports:
        value = Value.cast(port)
        m.d.comb += value.eq(AnySeq(value.shape()))
