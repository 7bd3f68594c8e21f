"""Block tests of rtl/'s sub-components in Amaranth's own simulator (no Verilog, no simulator build): a component,
a clock and async testbenches (Amaranth 0.5 ``add_testbench``)."""

from amaranth.sim import Simulator

__all__ = ["simulate"]


def simulate(dut, *testbenches):
    """Run ``dut`` with a 1 MHz ``sync`` clock (if it has the domain) and each ``testbench(ctx)`` until every one
    has returned; an assertion failing in a testbench fails the run."""
    sim = Simulator(dut)
    sim.add_clock(1e-6, if_exists=True)      # a purely combinational design has no sync domain
    for testbench in testbenches:
        sim.add_testbench(testbench)
    sim.run()
