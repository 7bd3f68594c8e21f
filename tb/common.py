"""Helpers shared by the cocotb testbenches: bus packing, clock and reset, test timeouts."""

import os

import numpy as np

__all__ = ["pack", "unpack", "timeout_ns", "start_clock", "reset", "CLOCK_NS"]

CLOCK_NS = 10


def pack(values, bits):
    """Pack integers (lane 0 in the least significant bits, as Amaranth's ArrayLayout) into one unsigned int."""
    mask = (1 << bits) - 1
    word = 0
    for i, v in enumerate(np.asarray(values, dtype=np.int64).ravel().tolist()):
        word |= (v & mask) << (i * bits)
    return word


def unpack(word, bits, n, signed=True):
    """Inverse of :func:`pack`: ``n`` lanes of ``bits`` bits, two's complement when ``signed``."""
    word = int(word)
    mask = (1 << bits) - 1
    out = np.empty(n, dtype=np.int64)
    for i in range(n):
        v = (word >> (i * bits)) & mask
        out[i] = v - (1 << bits) if signed and v >> (bits - 1) else v
    return out


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
