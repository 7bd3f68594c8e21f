# Ref: docs/architecture.md §5 (tile controller registers), D7 (the chip's own registers).
import enum

from amaranth.hdl import Cat, Const, Module, Signal, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from neurophase.model.interface import TILE_ADDR_BITS, WORD_BITS
from neurophase.rtl.params import validating

__all__ = ["RegisterBus", "RegisterFile", "flag", "flag_word", "outside", "not_signed", "reserved_set",
           "unknown_flags"]


class RegisterBus(wiring.Signature):
    """Simple register bus, from the host's side: ``addr``, ``wdata``, ``we``, ``re`` out; ``rdata`` in.

    A write happens in the cycle ``we`` is high. ``rdata`` holds the register read in the cycle ``re`` was high from
    the next cycle on (until the next read).
    """

    def __init__(self):
        super().__init__({"addr": Out(TILE_ADDR_BITS), "wdata": Out(WORD_BITS), "we": Out(1), "re": Out(1),
                          "rdata": In(WORD_BITS)})


# -- value checks: each is high when a written word is NOT allowed ---------------------------------------------------
def outside(word, lo, hi):
    """``word`` (unsigned) is outside ``lo..hi``."""
    return (word < lo) | (word > hi) if lo > 0 else word > hi     # no comparison that is constant


def not_signed(word, bits):
    """``word`` is not a ``bits``-bit two's-complement value sign-extended to its width: the bits from the value's sign
    bit up are not all equal."""
    top = word[bits - 1:]
    return ~(top.all() | ~top.any())


def reserved_set(word, layout):
    """``word`` has a bit set that no field of the :class:`~neurophase.model.interface.WordLayout` ``layout`` holds."""
    inside = (word[:layout.width] & layout.reserved_mask).any()
    return inside | word[layout.width:].any() if len(word) > layout.width else inside


def unknown_flags(word, flags):
    """``word`` has a bit set that is no member of the ``enum.IntFlag`` class ``flags``."""
    return (word & (((1 << len(word)) - 1) & ~int(sum(flags)))).any()


def flag(word, member):
    """The bit of ``word`` that the one-bit ``enum.IntFlag`` member ``member`` (``TileCtrl.START``, say) names."""
    return word[member.bit_length() - 1]


def flag_word(flags, events):
    """A word of one bit per member of the ``enum.IntFlag`` class ``flags`` (bit 0 up) with ``events[member]`` (a
    1-bit value) at that member's bit and 0 at the others."""
    return Cat(events.get(member, Const(0, 1)) for member in sorted(flags))


def _any(values):
    values = list(values)
    return Cat(values).any() if values else Const(0, 1)


class RegisterFile(wiring.Component):
    """A register map's address decode, access legality, write strobes, sticky error flags and registered read mux.

    The owner (the tile controller, the chip top) keeps the registers themselves: it stores ``bus.wdata`` on a write
    strobe and offers every register's value on ``read``. The one exception is the error register, which lives here.

    Behaviour
    ---------
    The map's addresses are the members of ``registers``; any other address is unmapped. A write (``bus.we``) is
    legal when its address is mapped and writable (not ``read_only``), it does not write a ``locked`` register while
    ``busy`` is high, and the register's entry in ``checks`` (if any) accepts ``bus.wdata``; a legal write raises
    ``write.<name>`` (``name``: the register's name in lower case) in that cycle. An illegal access changes nothing
    and raises exactly one error flag:

    * an unmapped address (read or write), or a write to a read-only register: ``illegal_flag``;
    * else a write to a locked register while ``busy``: ``locked_flag``;
    * else a written value its check rejects: ``bad_value_flag``.

    ``errors`` are sticky flags (one bit per member of the IntFlag class ``errors``): set by those events and by the
    owner's events on ``flags``, cleared by a legal write of 1s to ``error_register`` (write 1 to
    clear, whatever the other bits) or all at once by ``clear``. A flag raised in the cycle it is cleared stays set.

    A read (``bus.re``) puts the register's value on ``bus.rdata`` from the next cycle until the next read: the
    value offered on ``read.<name>`` in the ``re`` cycle, the flags for ``error_register``, 0 for a ``write_only`` or
    unmapped register.

    Latency: write strobes in the ``we`` cycle (combinational from ``bus``); error flags and read data one cycle later.
    Throughput: one access per cycle.

    Parameters
    ----------
    registers : an ``enum.IntEnum`` of word addresses below ``2^TILE_ADDR_BITS`` (``TileReg``, ``ChipReg``).
    read_only : registers that reject writes.
    write_only : writable registers that read 0 (strobes such as CTRL).
    locked : registers whose writes are rejected while ``busy``.
    checks : ``{register: check}``; ``check(wdata)`` is a 1-bit value, high when the word may not be written there
        (:func:`outside`, :func:`not_signed`, :func:`reserved_set`, :func:`unknown_flags`).
    errors : the ``enum.IntFlag`` class of the error register (one bit per member, from bit 0 up).
    error_register : the writable register that reads the flags and clears the bits written 1.
    illegal_flag, locked_flag, bad_value_flag : the members of ``errors`` the register file's own events raise
        (``locked_flag`` only when some register is ``locked``).
    owner_flags : the members of ``errors`` the owner raises on ``flags`` (may include the ones above).

    Members
    -------
    bus : In(RegisterBus)
        Register accesses.
    busy : In(1)
        Only with locked registers: their writes are rejected this cycle.
    write : Out(StructLayout({name: 1}))
        One strobe per writable register but the error register: a legal write of ``bus.wdata`` this cycle.
    read : In(StructLayout({name: unsigned(WORD_BITS)}))
        The value of every register that reads something (neither write-only nor the error register).
    flags : In(StructLayout({flag name: 1}))
        The owner's error events this cycle, one per member of ``owner_flags`` (named in lower case).
    clear : In(1)
        Clear every error flag (CTRL.CLEAR_ERRORS).
    errors : Out(len(errors))
        The sticky error flags.
    """

    def __init__(self, registers, *, read_only=(), write_only=(), locked=(), checks=None, errors, error_register,
                 illegal_flag, locked_flag=None, bad_value_flag, owner_flags=()):
        checks = dict(checks or {})
        with validating(self):
            if not (isinstance(registers, type) and issubclass(registers, enum.IntEnum)) or \
                    not all(0 <= r < 1 << TILE_ADDR_BITS for r in registers):
                raise ValueError(f"registers must be an IntEnum of addresses 0..{(1 << TILE_ADDR_BITS) - 1}, "
                                 f"got {registers!r}")
            self._read_only, self._write_only, self._locked = (
                self._members(registers, name, regs)
                for name, regs in (("read_only", read_only), ("write_only", write_only), ("locked", locked)))
            if self._read_only & (self._write_only | self._locked):
                raise ValueError(f"read_only registers cannot be write_only or locked, got "
                                 f"{sorted(r.name for r in self._read_only & (self._write_only | self._locked))}")
            if not (isinstance(errors, type) and issubclass(errors, enum.IntFlag)) or \
                    sorted(errors) != [1 << k for k in range(len(errors))]:
                raise ValueError(f"errors must be an IntFlag class of single bits from bit 0 up, got {errors!r}")
            writable = set(registers) - self._read_only
            if error_register not in writable - self._write_only:
                raise ValueError(f"error_register must be a readable, writable member of {registers.__name__}, "
                                 f"got {error_register!r}")
            for reg, check in checks.items():
                if reg not in writable or not callable(check):
                    raise ValueError(f"checks must map writable registers to functions of wdata, got "
                                     f"{reg!r}: {check!r}")
            own = {"illegal_flag": illegal_flag, "bad_value_flag": bad_value_flag}
            if self._locked or locked_flag is not None:
                own["locked_flag"] = locked_flag
            for name, member in own.items():
                if not isinstance(member, errors):
                    raise ValueError(f"{name} must be a member of {errors.__name__}, got {member!r}")
            if len(set(own.values())) < len(own):
                raise ValueError(f"{', '.join(own)} must be different flags, got {list(own.values())}")
            owner_flags = tuple(owner_flags)
            if not all(isinstance(f, errors) for f in owner_flags) or len(set(owner_flags)) < len(owner_flags):
                raise ValueError(f"owner_flags must list different members of {errors.__name__}, "
                                 f"got {list(owner_flags)}")
        self._registers, self._checks, self._errors, self._error_register = registers, checks, errors, error_register
        self._illegal, self._locked_flag, self._bad_value = illegal_flag, locked_flag, bad_value_flag
        self._owner_flags = owner_flags
        self._writable = [r for r in registers if r in writable and r != error_register]
        self._readable = [r for r in registers if r not in self._write_only and r != error_register]
        members = {
            "bus": In(RegisterBus()),
            "write": Out(data.StructLayout({r.name.lower(): 1 for r in self._writable})),
            "read": In(data.StructLayout({r.name.lower(): unsigned(WORD_BITS) for r in self._readable})),
            "flags": In(data.StructLayout({f.name.lower(): 1 for f in owner_flags})),
            "clear": In(1),
            "errors": Out(len(errors)),
        }
        if self._locked:
            members["busy"] = In(1)
        super().__init__(members)

    @staticmethod
    def _members(registers, name, regs):
        regs = frozenset(regs)
        if not regs <= set(registers):
            raise ValueError(f"{name} must list members of {registers.__name__}, got {sorted(map(repr, regs))}")
        return regs

    def elaborate(self, platform):
        m = Module()
        bus, wdata = self.bus, self.bus.wdata
        # Named signals (one decode per address, the legality terms): an expression used in several places would be
        # built once per use.
        at = {r: Signal(name=f"at_{r.name.lower()}") for r in self._registers}
        m.d.comb += [hit.eq(bus.addr == r) for r, hit in at.items()]
        mapped, read_only = _any(at.values()), _any(at[r] for r in self._read_only)
        names = ("illegal", "bad", "writing", "accepted", "bad_value", "apply")
        illegal, bad, writing, accepted, bad_value, apply = (Signal(name=n) for n in names)
        m.d.comb += [writing.eq(bus.we & mapped & ~read_only),
                     bad.eq(_any(at[r] & check(wdata) for r, check in self._checks.items()))]
        if self._locked:
            rejected = Signal()
            m.d.comb += [rejected.eq(writing & _any(at[r] for r in self._locked) & self.busy),
                         accepted.eq(writing & ~rejected)]
        else:
            m.d.comb += accepted.eq(writing)
        m.d.comb += [illegal.eq((bus.we & (~mapped | read_only)) | (bus.re & ~mapped)),
                     bad_value.eq(accepted & bad),
                     apply.eq(accepted & ~bad)]
        m.d.comb += [self.write[r.name.lower()].eq(apply & at[r]) for r in self._writable]

        n = len(self._errors)
        cleared = self.clear.replicate(n) | (wdata[:n] & (apply & at[self._error_register]).replicate(n))
        events = {f: [self.flags[f.name.lower()]] for f in self._owner_flags}
        own = {self._illegal: illegal, self._bad_value: bad_value}
        if self._locked:
            own[self._locked_flag] = rejected
        for f, event in own.items():
            events.setdefault(f, []).append(event)
        raised = flag_word(self._errors, {f: _any(e) for f, e in events.items()})
        m.d.sync += self.errors.eq((self.errors & ~cleared) | raised)

        with m.If(bus.re):
            m.d.sync += bus.rdata.eq(0)
            with m.If(at[self._error_register]):
                m.d.sync += bus.rdata.eq(self.errors)
            for r in self._readable:
                with m.If(at[r]):
                    m.d.sync += bus.rdata.eq(self.read[r.name.lower()])
        return m
