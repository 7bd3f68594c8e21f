"""Helpers shared by the cocotb testbenches: clock and reset, test timeouts. (Bus lanes are packed with
model/interface.py ``pack_lanes`` / ``unpack_lanes``.)"""

import os

__all__ = ["timeout_ns", "start_clock", "reset", "CLOCK_NS"]

CLOCK_NS = 10


def timeout_ns(default_us=2000):
    """Simulated-time limit for a cocotb test, so a missed edge fails the test instead of hanging CI."""
    return int(float(os.environ.get("NEUROPHASE_TEST_TIMEOUT_US", default_us)) * 1000)


async def start_clock(dut):
    from cocotb.clock import Clock
    Clock(dut.clk, CLOCK_NS, unit="ns", impl="gpi").start()


async def reset(dut, cycles=2):
    from cocotb.triggers import RisingEdge
    dut.rst.value = 1
    for _ in range(cycles):
        await RisingEdge(dut.clk)
    dut.rst.value = 0
