"""The chip's interface: the one definition of what the host, the golden model, the RTL and the testbenches share.

Ref: docs/architecture.md §5 (tile controller registers, chip command interface), D3 (ADC range), D4 (widths), D7
(command words). Everything a word on a wire or in a register means is defined here once: the tile's and the chip's
register maps and error bits, the command opcodes and header layout, activation packing, the bit layouts of the
register words (BN control, mode, geometry, status), the ADC range step, the interface widths, and the latencies
that the cycle model (model/cycles.py) reads. The RTL builds its decoders from these definitions (``WordLayout``
fields become Amaranth ``data.FlexibleLayout`` views in rtl/layouts.py), the golden executor and the host compiler
encode and decode with them, and the testbenches drive and check with them.

Dependency direction: ``tb/ -> rtl/ -> model/`` and ``tb/ -> model/``; this module imports nothing of the project but
model/checks.py.
"""

import enum
from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np

from neurophase.model.checks import check_int, check_nonnegative, check_positive

__all__ = [
    "WORD_BITS", "TILE_ADDR_BITS", "ACT_COUNT_BITS", "CHIP_TARGET", "TILE_ID", "CHIP_ID", "ADC_RANGE_STEP_A",
    "BN_LATENCY", "TILE_OUTPUT_CREDITS", "RESP_FIFO_LATENCY", "WRITE_CYCLES", "ROUTE_CYCLES", "PWM_LSB_CYCLES",
    "sar_conversion_cycles",
    "WordLayout", "InputEncoding",
    "TileReg", "TileErr", "TileCtrl", "TILE_READ_ONLY", "TILE_WRITE_ONLY", "TILE_CONFIG", "BN_CTRL", "TILE_MODE",
    "TILE_GEOMETRY", "TILE_FORMAT", "TILE_STATUS",
    "Op", "ChipReg", "ChipErr", "ChipCtrl", "CHIP_WRITABLE", "CHIP_WRITE_ONLY", "RED_BN_REGS", "CHIP_MAX_GROUP",
    "CHIP_CONFIG",
    "CHIP_STATUS",
    "HEADER", "REG_ARG", "ACT_ARG", "ROUTE_ARG", "Header", "header", "decode_header",
    "pack_lanes", "unpack_lanes", "acts_per_word", "act_words", "pack_activations", "unpack_activations",
    "adc_range_code", "adc_range_covering", "adc_range_current",
]

# -- widths ------------------------------------------------------------------------------------------------------------
WORD_BITS = 32                   # command and response words, tile register data
TILE_ADDR_BITS = 5               # tile register address (word addresses 0..31)
ACT_COUNT_BITS = 13              # ACT count field: 1..8191 activations
CHIP_TARGET = 0xFF               # tile field of a command addressed to the chip's own registers
TILE_ID = 0x4E505431             # "NPT1", the tile's ID register
CHIP_ID = 0x4E504331             # "NPC1", the chip's ID register

# The tile's ADC_RANGE register counts the ADC full-scale current in steps of this many amperes (10 nA).
ADC_RANGE_STEP_A = 10e-9

# -- latencies (cycles) -----------------------------------------------------------------------------------------------
BN_LATENCY = 3                   # BN unit: input cycle to output cycle (parameter read, product, sum-shift-clamp)
TILE_OUTPUT_CREDITS = BN_LATENCY + 2     # tile output queue depth: a beat holds a credit from issue to acceptance
RESP_FIFO_LATENCY = 2            # chip response FIFO: written in cycle t, on ``resp`` in cycle t + 2
# Cycles a command takes in the chip's decoder when nothing holds it up (a chip-register WRITE and a ROUTE wait in
# their last cycle until no MVM is outstanding).
WRITE_CYCLES = 3                 # header, data word, the write
ROUTE_CYCLES = 2                 # header, the switch
# Clock cycles of one activation LSB of a PWM read (D8): the window is (2^B_in - 1) * PWM_LSB_CYCLES cycles.
PWM_LSB_CYCLES = 1


def sar_conversion_cycles(columns_per_adc, b_adc):
    """Cycles from a SAR ADC's ``start`` to its ``done``: one comparator decision per bit and column, plus the
    sampling step (NeuroSim's log2 L + 1)."""
    return check_int("columns_per_adc", columns_per_adc, 1) * check_int("b_adc", b_adc, 1) + 1


# -- word layouts ------------------------------------------------------------------------------------------------------
class WordLayout:
    """Named bit fields of one register or command word: ``WordLayout(width, name=(offset, bits), ...)``.

    :meth:`encode` checks every value against its field and returns the word; :meth:`decode` returns the fields of a
    word as attributes. Bits outside every field are reserved: a legal register write has them 0
    (:attr:`reserved_mask`). The RTL views a signal through the same fields (rtl/layouts.py).
    """

    def __init__(self, width=WORD_BITS, **fields):
        self.width = check_int("width", width, 1, 64)
        self.fields = {}
        used = 0
        for name, (offset, bits) in fields.items():
            check_int(f"{name} offset", offset, 0, width - 1)
            check_int(f"{name} bits", bits, 1, width - offset)
            mask = ((1 << bits) - 1) << offset
            if used & mask:
                raise ValueError(f"field {name} overlaps another field")
            used |= mask
            self.fields[name] = (offset, bits)
        self.reserved_mask = ((1 << width) - 1) & ~used

    def encode(self, **values):
        """The word with ``values`` in their fields (missing fields 0); a value that does not fit is an error."""
        word = 0
        for name, value in values.items():
            if name not in self.fields:
                raise ValueError(f"unknown field {name!r}; fields are {list(self.fields)}")
            offset, bits = self.fields[name]
            word |= check_int(name, int(value), 0, (1 << bits) - 1) << offset
        return word

    def decode(self, word):
        """The fields of ``word`` as attributes (reserved bits ignored)."""
        word = int(word)
        return SimpleNamespace(**{name: (word >> offset) & ((1 << bits) - 1)
                                  for name, (offset, bits) in self.fields.items()})

    def __repr__(self):
        return f"WordLayout({self.width}, {self.fields})"


class InputEncoding(enum.IntEnum):
    """How a tile drives its wordlines with the activations (the MODE register's ``encoding`` field).

    BIT_SERIAL: one read per bit-plane, MSB first; a wordline pulses when its activation's bit is 1.
    PWM: one read per MVM; each wordline is driven for ``x`` unit times and the bitline charge is converted once
    (docs/architecture.md D8).
    """
    BIT_SERIAL = 0
    PWM = 1

    @property
    def label(self):
        """The name users type (``bit-serial``, ``pwm``)."""
        return self.name.lower().replace("_", "-")

    @classmethod
    def parse(cls, value):
        """An encoding from itself, its label or its name; anything else is an error naming the allowed values."""
        if isinstance(value, cls):
            return value
        for e in cls:
            if value in (e.label, e.name):
                return e
        raise ValueError(f"input encoding must be one of {[e.label for e in cls]}, got {value!r}")

    def reads(self, b_in):
        """Reads (ADC conversions per column) of one MVM of ``b_in``-bit activations."""
        return b_in if self is InputEncoding.BIT_SERIAL else 1


# -- the tile's registers ----------------------------------------------------------------------------------------------
class TileReg(enum.IntEnum):
    """Word addresses of a tile's registers (rtl/tile_ctrl.py documents each)."""
    ID = 0x00
    GEOMETRY = 0x01
    FORMAT = 0x02
    CTRL = 0x03
    STATUS = 0x04
    ERRORS = 0x05
    ROWS_USED = 0x06
    COLS_USED = 0x07
    BN_CTRL = 0x08
    MODE = 0x09
    ADC_RANGE = 0x0A
    BN_CHANNEL = 0x0B
    BN_SCALE = 0x0C
    BN_BIAS = 0x0D
    SAT_ADC_LOW = 0x0E
    SAT_ADC_HIGH = 0x0F
    SAT_ACC = 0x10
    SAT_BN = 0x11
    MVM_COUNT = 0x12
    BUSY_CYCLES = 0x13


class TileErr(enum.IntFlag):
    """Bits of a tile's ERRORS register: sticky, cleared by writing 1 to them or CTRL.CLEAR_ERRORS."""
    ILLEGAL_ADDRESS = 1 << 0     # unmapped address, or a write to a read-only register
    WRITE_WHILE_BUSY = 1 << 1    # configuration write while an MVM runs, outputs drain or activations stream in
    BAD_VALUE = 1 << 2           # configuration value out of its range (the register keeps its old value)
    START_WHILE_BUSY = 1 << 3    # CTRL.START while an MVM is armed or running, or in AUTOSTART mode
    ADC_START_ERROR = 1 << 4     # the ADC array saw a start while converting (a sequencing fault)


class TileCtrl(enum.IntFlag):
    """Bits of a tile's CTRL register (write-only strobes)."""
    START = 1 << 0
    CLEAR_ERRORS = 1 << 1
    CLEAR_COUNTERS = 1 << 2


TILE_READ_ONLY = frozenset({TileReg.ID, TileReg.GEOMETRY, TileReg.FORMAT, TileReg.STATUS, TileReg.SAT_ADC_LOW,
                            TileReg.SAT_ADC_HIGH, TileReg.SAT_ACC, TileReg.SAT_BN, TileReg.MVM_COUNT,
                            TileReg.BUSY_CYCLES})
# Write-only registers (strobes): writable, read as 0.
TILE_WRITE_ONLY = frozenset({TileReg.CTRL})
# Configuration registers: a write while the tile is busy is rejected (TileErr.WRITE_WHILE_BUSY).
TILE_CONFIG = frozenset({TileReg.ROWS_USED, TileReg.COLS_USED, TileReg.BN_CTRL, TileReg.MODE, TileReg.ADC_RANGE,
                         TileReg.BN_CHANNEL, TileReg.BN_SCALE, TileReg.BN_BIAS})

# BN_CTRL (tile) and RED_BN_CTRL (chip reducer): right shift r, ReLU, last layer (signed output).
BN_CTRL = WordLayout(shift=(0, 6), relu=(8, 1), last=(9, 1))
# MODE: stream raw accumulators instead of BN outputs; start an MVM whenever the activation buffer is full; the
# input encoding (an InputEncoding value; one the tile does not implement is a bad value).
TILE_MODE = WordLayout(raw=(0, 1), autostart=(1, 1), encoding=(2, 2))
TILE_GEOMETRY = WordLayout(rows=(0, 16), columns=(16, 16))
TILE_FORMAT = WordLayout(b_in=(0, 8), b_adc=(8, 8), acc_bits=(16, 8), acts_per_beat=(24, 8))
TILE_STATUS = WordLayout(busy=(0, 1), done=(1, 1), armed=(2, 1), full=(3, 1), draining=(4, 1), state=(8, 2),
                         buffered=(16, 16))


# -- the chip's command interface ------------------------------------------------------------------------------------
class Op(enum.IntEnum):
    """Command opcodes (the header's ``op`` field)."""
    NOP = 0
    WRITE = 1
    READ = 2
    ACT = 3
    ROUTE = 4


class ChipReg(enum.IntEnum):
    """Word addresses of the chip's own registers (tile field ``CHIP_TARGET``; rtl/chip.py documents each)."""
    ID = 0x00
    CONFIG = 0x01
    ERRORS = 0x02
    STATUS = 0x03
    RED_BN_CTRL = 0x04
    RED_BN_CHANNEL = 0x05
    RED_BN_SCALE = 0x06
    RED_BN_BIAS = 0x07
    CYCLES = 0x08
    ACTS = 0x09
    PLANES = 0x0A
    TILE_BEATS = 0x0B
    OUT_WORDS = 0x0C
    PSUM_ADDS = 0x0D
    CMD_WORDS = 0x0E
    CTRL = 0x0F
    SAT_BN = 0x10


class ChipErr(enum.IntFlag):
    """Bits of the chip's ERRORS register (sticky; write 1 to clear)."""
    BAD_OPCODE = 1 << 0
    BAD_TILE = 1 << 1
    BAD_VALUE = 1 << 2
    BAD_ROUTE = 1 << 3
    CHIP_REG = 1 << 4
    REDUCE_MISMATCH = 1 << 5
    TILE_ERROR = 1 << 6


class ChipCtrl(enum.IntFlag):
    """Bits of the chip's CTRL register (write-only strobes)."""
    CLEAR_COUNTERS = 1 << 0
    CLEAR_ERRORS = 1 << 1


CHIP_WRITABLE = frozenset({ChipReg.ERRORS, ChipReg.RED_BN_CTRL, ChipReg.RED_BN_CHANNEL, ChipReg.RED_BN_SCALE,
                           ChipReg.RED_BN_BIAS, ChipReg.CTRL})
CHIP_WRITE_ONLY = frozenset({ChipReg.CTRL})         # strobes: writable, read as 0
# The reducer's BN registers behave as a tile's BN registers.
RED_BN_REGS = {ChipReg.RED_BN_CTRL: TileReg.BN_CTRL, ChipReg.RED_BN_CHANNEL: TileReg.BN_CHANNEL,
               ChipReg.RED_BN_SCALE: TileReg.BN_SCALE, ChipReg.RED_BN_BIAS: TileReg.BN_BIAS}
# The largest reduction group the chip's reducer adds (docs/architecture.md D16): ResNet-50's largest fan-in, 3 x 3 x
# 512 = 4,608 rows, over 256-row tiles.
CHIP_MAX_GROUP = 18
CHIP_CONFIG = WordLayout(tiles=(0, 8), max_group=(8, 8), acts_per_word=(16, 8))
CHIP_STATUS = WordLayout(outstanding=(0, 16), route_base=(16, 8), route_size=(24, 8))

HEADER = WordLayout(arg=(0, 20), tile=(20, 8), op=(28, 4))
ARG_BITS = HEADER.fields["arg"][1]
REG_ARG = WordLayout(ARG_BITS, address=(0, TILE_ADDR_BITS))       # WRITE, READ
ACT_ARG = WordLayout(ARG_BITS, count=(0, ACT_COUNT_BITS))         # ACT: activations of one MVM
ROUTE_ARG = WordLayout(ARG_BITS, size=(0, 8))                     # ROUTE: tiles in the group


@dataclass(frozen=True)
class Header:
    """A decoded command header. ``op`` is an :class:`Op` when the opcode is known, else the raw field value."""
    op: object
    tile: int
    arg: int

    @property
    def known(self):
        return isinstance(self.op, Op)


def header(op, tile, arg=0):
    """A command header word: ``op`` [31:28], ``tile`` [27:20], ``arg`` [19:0]."""
    return HEADER.encode(op=Op(op), tile=check_int("tile", tile, 0, CHIP_TARGET), arg=arg)


def decode_header(word):
    """The :class:`Header` of a command word."""
    f = HEADER.decode(word)
    op = Op(f.op) if f.op in Op._value2member_map_ else f.op
    return Header(op, f.tile, f.arg)


# -- lanes of a bus and activations in command words -----------------------------------------------------------------
def pack_lanes(values, bits):
    """Integers packed into one unsigned integer, lane 0 in the least significant bits (as Amaranth's
    ``ArrayLayout`` and every multi-lane port of the RTL); each value is taken modulo 2^bits (two's complement)."""
    mask = (1 << bits) - 1
    word = 0
    for i, v in enumerate(np.asarray(values, dtype=np.int64).ravel().tolist()):
        word |= (v & mask) << (i * bits)
    return word


def unpack_lanes(word, bits, n, signed=True):
    """Inverse of :func:`pack_lanes`: ``n`` lanes of ``bits`` bits, two's complement when ``signed`` (int64)."""
    word = int(word)
    mask = (1 << bits) - 1
    out = np.empty(n, dtype=np.int64)
    for i in range(n):
        v = (word >> (i * bits)) & mask
        out[i] = v - (1 << bits) if signed and v >> (bits - 1) else v
    return out


def acts_per_word(b_in):
    """Activations packed into one command word."""
    return WORD_BITS // check_int("b_in", b_in, 1, WORD_BITS)


def act_words(count, b_in):
    """Command words carrying ``count`` activations."""
    return -(-check_int("count", count, 0) // acts_per_word(b_in))


def pack_activations(x, b_in):
    """Unsigned activations (mvms, K) -> command words (mvms, ceil(K / per word)), activation 0 in the low bits."""
    x = np.asarray(x, dtype=np.uint64)
    apw = acts_per_word(b_in)
    n, k = x.shape
    nw = act_words(k, b_in)
    padded = np.zeros((n, nw * apw), np.uint64)
    padded[:, :k] = x
    shifts = (np.arange(apw, dtype=np.uint64) * np.uint64(b_in))[None, None, :]
    return (padded.reshape(n, nw, apw) << shifts).sum(axis=2).astype(np.uint32)


def unpack_activations(words, count, b_in):
    """The first ``count`` activations of command words ``words`` (the inverse of :func:`pack_activations`), int64."""
    apw = acts_per_word(b_in)
    packed = np.asarray(words, np.uint32).astype(np.uint64)
    shifts = np.arange(apw, dtype=np.uint64) * np.uint64(b_in)
    mask = np.uint64((1 << b_in) - 1)
    return ((packed[..., None] >> shifts) & mask).reshape(*packed.shape[:-1], -1)[..., :count].astype(np.int64)


# -- ADC range ---------------------------------------------------------------------------------------------------------
def adc_range_code(i_fs):
    """The ADC_RANGE register value for a full-scale current ``i_fs`` (A), which must be a whole number of
    :data:`ADC_RANGE_STEP_A` (the register cannot hold anything else)."""
    i_fs = check_positive("ADC full-scale current (A)", i_fs)
    code = int(round(i_fs / ADC_RANGE_STEP_A))
    if code < 1 or not np.isclose(code * ADC_RANGE_STEP_A, i_fs, rtol=1e-9, atol=0):
        raise ValueError(f"ADC full-scale current must be a whole number of ADC_RANGE steps "
                         f"({ADC_RANGE_STEP_A:g} A), got {i_fs!r} A")
    return code


def adc_range_covering(current):
    """The smallest ADC_RANGE register value whose full scale is at least ``current`` (A; at least 1)."""
    return max(1, int(np.ceil(check_nonnegative("current (A)", current) / ADC_RANGE_STEP_A)))


def adc_range_current(code):
    """The full-scale current (A) an ADC_RANGE register value ``code`` sets."""
    return check_int("ADC_RANGE", code, 1) * ADC_RANGE_STEP_A
