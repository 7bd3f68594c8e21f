"""rtl/regfile.py: address decode, legality, write strobes, sticky error flags and the registered read mux, on a
small register map of every kind (read-only, write-only, locked, range- and sign-checked)."""

import enum

import pytest

from neurophase.rtl.regfile import RegisterFile, not_signed, outside, unknown_flags
from neurophase.tb.amaranth_sim import bus_read, simulate


class _Reg(enum.IntEnum):
    ID = 0          # read-only
    CTRL = 1        # write-only strobes
    ERRORS = 2
    LIMIT = 3       # locked while busy, 1..10
    OFFSET = 4      # signed 8 bits


class _Ctrl(enum.IntFlag):
    GO = 1 << 0
    CLEAR = 1 << 1


class _Err(enum.IntFlag):
    ILLEGAL = 1 << 0
    LOCKED = 1 << 1
    BAD = 1 << 2
    OWNER = 1 << 3


def _regfile(**overrides):
    kw = dict(read_only={_Reg.ID}, write_only={_Reg.CTRL}, locked={_Reg.LIMIT},
              checks={_Reg.CTRL: lambda w: unknown_flags(w, _Ctrl), _Reg.LIMIT: lambda w: outside(w, 1, 10),
                      _Reg.OFFSET: lambda w: not_signed(w, 8)},
              errors=_Err, error_register=_Reg.ERRORS, illegal_flag=_Err.ILLEGAL, locked_flag=_Err.LOCKED,
              bad_value_flag=_Err.BAD, owner_flags=(_Err.OWNER,))
    kw.update(overrides)
    return RegisterFile(_Reg, **kw)


def _strobes(ctx, dut):
    return {name: ctx.get(dut.write[name]) for name in ("ctrl", "limit", "offset")}


async def _write(ctx, dut, addr, value, busy=0):
    """One write cycle; returns the strobes seen in it and the error flags one cycle later."""
    ctx.set(dut.bus.addr, addr)
    ctx.set(dut.bus.wdata, value & 0xFFFF_FFFF)
    ctx.set(dut.bus.we, 1)
    ctx.set(dut.busy, busy)
    strobes = _strobes(ctx, dut)
    await ctx.tick()
    ctx.set(dut.bus.we, 0)
    ctx.set(dut.busy, 0)
    return strobes, _Err(ctx.get(dut.errors))


async def _clear(ctx, dut):
    ctx.set(dut.clear, 1)
    await ctx.tick()
    ctx.set(dut.clear, 0)


def test_a_legal_write_raises_only_its_registers_strobe():
    dut = _regfile()
    none = dict(ctrl=0, limit=0, offset=0)

    async def testbench(ctx):
        assert _strobes(ctx, dut) == none, "no strobe without a write"
        for addr, value, strobe in [(_Reg.LIMIT, 10, "limit"), (_Reg.LIMIT, 1, "limit"), (_Reg.OFFSET, -128, "offset"),
                                    (_Reg.OFFSET, 127, "offset"), (_Reg.CTRL, _Ctrl.GO | _Ctrl.CLEAR, "ctrl")]:
            strobes, errors = await _write(ctx, dut, addr, value)
            assert strobes == {**none, strobe: 1} and errors == 0, (addr, value)
        assert _strobes(ctx, dut) == none

    simulate(dut, testbench)


@pytest.mark.parametrize("addr, value, busy, flag", [
    (_Reg.ID, 0, 0, _Err.ILLEGAL),              # read-only
    (7, 1, 0, _Err.ILLEGAL),                    # unmapped
    (_Reg.LIMIT, 5, 1, _Err.LOCKED),            # locked while busy
    (_Reg.LIMIT, 0, 1, _Err.LOCKED),            # locked comes before the value check
    (_Reg.LIMIT, 0, 0, _Err.BAD),
    (_Reg.LIMIT, 11, 0, _Err.BAD),
    (_Reg.OFFSET, 128, 0, _Err.BAD),            # not a sign-extended 8-bit value
    (_Reg.OFFSET, -129, 0, _Err.BAD),
    (_Reg.CTRL, 4, 0, _Err.BAD),                # no such CTRL flag
])
def test_an_illegal_write_raises_one_flag_and_no_strobe(addr, value, busy, flag):
    dut = _regfile()

    async def testbench(ctx):
        strobes, errors = await _write(ctx, dut, addr, value, busy)
        assert strobes == dict(ctrl=0, limit=0, offset=0)
        assert errors == flag

    simulate(dut, testbench)


def test_busy_rejects_only_locked_registers():
    dut = _regfile()

    async def testbench(ctx):
        strobes, errors = await _write(ctx, dut, _Reg.OFFSET, 3, busy=1)
        assert strobes["offset"] == 1 and errors == 0

    simulate(dut, testbench)


def test_reads_return_the_offered_value_from_the_next_cycle_until_the_next_read():
    dut = _regfile()

    async def testbench(ctx):
        ctx.set(dut.read.id, 0x4E505431)
        ctx.set(dut.read.limit, 7)
        ctx.set(dut.read.offset, 0xFFFF_FFFE)
        assert await bus_read(ctx, dut.bus, _Reg.ID) == 0x4E505431
        ctx.set(dut.read.id, 0)
        await ctx.tick()
        assert ctx.get(dut.bus.rdata) == 0x4E505431, "rdata holds until the next read"
        assert await bus_read(ctx, dut.bus, _Reg.LIMIT) == 7
        assert await bus_read(ctx, dut.bus, _Reg.OFFSET) == 0xFFFF_FFFE
        assert await bus_read(ctx, dut.bus, _Reg.CTRL) == 0, "a write-only register reads 0"
        assert ctx.get(dut.errors) == 0
        assert await bus_read(ctx, dut.bus, 9) == 0, "an unmapped register reads 0"
        assert ctx.get(dut.errors) == _Err.ILLEGAL
        assert await bus_read(ctx, dut.bus, _Reg.ERRORS) == _Err.ILLEGAL

    simulate(dut, testbench)


def test_error_flags_are_sticky_until_written_with_ones_or_cleared():
    dut = _regfile()

    async def testbench(ctx):
        ctx.set(dut.flags.owner, 1)
        await ctx.tick()
        ctx.set(dut.flags.owner, 0)
        await _write(ctx, dut, _Reg.ID, 1)
        await ctx.tick()
        assert ctx.get(dut.errors) == _Err.OWNER | _Err.ILLEGAL, "flags are sticky"
        _, errors = await _write(ctx, dut, _Reg.ERRORS, _Err.OWNER | _Err.BAD)
        assert errors == _Err.ILLEGAL, "writing 1 clears those flags only"
        await _write(ctx, dut, _Reg.LIMIT, 0)
        await _clear(ctx, dut)
        assert ctx.get(dut.errors) == 0, "clear clears every flag"
        ctx.set(dut.flags.owner, 1)
        await _clear(ctx, dut)
        ctx.set(dut.flags.owner, 0)
        assert ctx.get(dut.errors) == _Err.OWNER, "a flag raised while clearing stays"

    simulate(dut, testbench)


@pytest.mark.parametrize("kw, msg", [
    (dict(read_only={_Reg.ID, _Reg.LIMIT}), r"read_only registers cannot be write_only or locked, got \['LIMIT'\]"),
    (dict(error_register=_Reg.CTRL), r"error_register must be a readable, writable member of _Reg, got <_Reg.CTRL: 1>"),
    (dict(checks={_Reg.ID: lambda w: w[0]}), r"checks must map writable registers to functions of wdata, got <_Reg.ID"),
    (dict(locked_flag=_Err.ILLEGAL), r"illegal_flag, bad_value_flag, locked_flag must be different flags"),
    (dict(owner_flags=(1,)), r"owner_flags must list different members of _Err, got \[1\]"),
])
def test_register_file_rejects_bad_parameters(kw, msg):
    with pytest.raises(ValueError, match=msg):
        _regfile(**kw)
