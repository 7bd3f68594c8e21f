"""neurophase lint: Amaranth's net aliases are exempt from UNUSEDSIGNAL, real unused logic is still reported."""

from amaranth.hdl import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from neurophase.lint import lint_file, net_alias_lines
from neurophase.rtl.export import write_verilog


class _Inverter(wiring.Component):
    a: In(4)
    y: Out(4)

    def elaborate(self, platform):
        m = Module()
        m.d.sync += self.y.eq(~self.a)
        return m


class _Chain(wiring.Component):
    """Two submodules connected through the parent (so the parent names each net twice), and optionally a computed
    signal that nothing reads."""
    a: In(4)
    y: Out(4)

    def __init__(self, spare):
        self._spare = spare
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        m.submodules.first = first = _Inverter()
        m.submodules.second = second = _Inverter()
        m.d.comb += [first.a.eq(self.a), second.a.eq(first.y), self.y.eq(second.y)]
        if self._spare:
            spare = Signal(4)
            m.d.comb += spare.eq(first.y ^ self.a)
        return m


def test_net_aliases_of_connected_submodules_are_exempt_and_lint_clean(tmp_path):
    path = write_verilog(_Chain(spare=False), "np_chain", tmp_path)
    assert net_alias_lines(path.read_text())      # the parent holds aliases (a, y of both submodules)
    result = lint_file(path)
    assert result.ok, result.summary()


def test_unused_logic_next_to_net_aliases_is_still_reported(tmp_path):
    result = lint_file(write_verilog(_Chain(spare=True), "np_chain", tmp_path))
    assert result.counts == {"UNUSEDSIGNAL": 1}
    assert "'spare'" in result.messages[0]


def test_hand_written_verilog_has_no_exempt_aliases(tmp_path):
    bad = tmp_path / "np_alias.v"
    bad.write_text("module np_alias(input wire a, output wire y);\n  wire copy;\n  assign copy = a;\n"
                   "  assign y = a;\nendmodule\n")
    assert net_alias_lines(bad.read_text()) == []
    assert lint_file(bad).counts == {"UNUSEDSIGNAL": 1}
