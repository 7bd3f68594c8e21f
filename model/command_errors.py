"""The chip's error model: which commands and register accesses are illegal, which error bit each sets, and what the
chip does instead (the golden executor, model/executor.py, uses it so that it answers illegal commands as the RTL
does rather than raising).

Ref: docs/architecture.md §5 (tile registers and ERRORS), D7 (command errors; a bad command's data words are
skipped). The rules follow rtl/cmd_decoder.py (header checks, in its order), rtl/regfile.py (access legality: an
unmapped address or a write to a read-only register, else a locked register written while busy, else a value its
check rejects; exactly one flag per illegal access) and the value checks of rtl/tile_ctrl.py and rtl/bn_regs.py.
"""

from dataclasses import dataclass

from neurophase.model.checks import check_int
from neurophase.model.interface import (ACT_ARG, BN_CTRL, CHIP_TARGET, CHIP_WRITABLE, HEADER, RED_BN_REGS, ROUTE_ARG,
                                        TILE_CONFIG, TILE_MODE, TILE_READ_ONLY, WORD_BITS, ChipCtrl, ChipErr, ChipReg,
                                        Op, TileCtrl, TileErr, TileReg, act_words)

__all__ = ["ChipLimits", "header_error", "data_words", "tile_access_error", "chip_access_error"]


@dataclass(frozen=True)
class ChipLimits:
    """What the chip's checks compare against: its tiles, a tile's wordlines and columns (the hardware's, not the
    ones in use), the largest reduction group, the widths (PeripheryFormat), the ADC_RANGE width and the input
    encodings the tiles implement."""
    tiles: int
    rows: int
    columns: int
    max_group: int
    fmt: object
    range_bits: int = 16
    encodings: frozenset = frozenset({0})


def data_words(word, b_in):
    """Data words following the header ``word`` whatever its legality: one for a WRITE, ceil(count / activations
    per word) for an ACT (a bad ACT's words are skipped), none otherwise."""
    f = HEADER.decode(word)
    if f.op == Op.WRITE:
        return 1
    if f.op == Op.ACT:
        return act_words(ACT_ARG.decode(f.arg).count, b_in)
    return 0


def _reserved(value, layout):
    return bool(value & (layout.reserved_mask | (((1 << 64) - 1) << layout.width)))


def header_error(word, route, limits):
    """The :class:`ChipErr` bit the decoder raises for header ``word`` with the route ``(base, size)`` in force, or
    0 for a command it carries out. A WRITE or READ to a tile past the chip is checked here too (the decoder raises
    it on the data word or in the READ's wait)."""
    f = HEADER.decode(word)
    if f.op not in Op._value2member_map_:
        return ChipErr.BAD_OPCODE
    op, tile = Op(f.op), f.tile
    if op in (Op.WRITE, Op.READ):
        return ChipErr.BAD_TILE if tile >= limits.tiles and tile != CHIP_TARGET else 0
    if op == Op.ACT:
        count = ACT_ARG.decode(f.arg).count
        if tile >= limits.tiles:
            return ChipErr.BAD_TILE
        if not 1 <= count <= limits.rows or _reserved(f.arg, ACT_ARG):
            return ChipErr.BAD_VALUE
        base, size = route
        return 0 if base <= tile < base + size else ChipErr.BAD_ROUTE
    if op == Op.ROUTE:
        size = ROUTE_ARG.decode(f.arg).size
        if not 1 <= size <= limits.max_group or _reserved(f.arg, ROUTE_ARG):
            return ChipErr.BAD_VALUE
        return ChipErr.BAD_TILE if tile + size > limits.tiles else 0
    return 0


def _signed_word(value, bits):
    """``value`` is a ``bits``-bit two's-complement value sign-extended to the word."""
    top = value >> (bits - 1)
    return bits >= WORD_BITS or top in (0, (1 << (WORD_BITS - bits + 1)) - 1)


def _bank_value_ok(reg, value, limits):
    """The BN register bank's checks (rtl/bn_regs.py), ``reg`` a tile register name of the bank."""
    fmt = limits.fmt
    if reg == TileReg.BN_CTRL:
        return BN_CTRL.decode(value).shift <= fmt.shift_max and not _reserved(value, BN_CTRL)
    if reg == TileReg.BN_CHANNEL:
        return value <= limits.columns - 1
    if reg == TileReg.BN_SCALE:
        return _signed_word(value, fmt.scale_bits)
    return _signed_word(value, fmt.bias_bits)


def _tile_value_ok(reg, value, limits):
    if reg == TileReg.CTRL:
        return not value & ~int(sum(TileCtrl)) & ((1 << WORD_BITS) - 1)
    if reg == TileReg.ROWS_USED:
        return 1 <= value <= limits.rows
    if reg == TileReg.COLS_USED:
        return 1 <= value <= limits.columns
    if reg == TileReg.MODE:
        return not _reserved(value, TILE_MODE) and TILE_MODE.decode(value).encoding in limits.encodings
    if reg == TileReg.ADC_RANGE:
        return 1 <= value <= (1 << limits.range_bits) - 1
    if reg == TileReg.ERRORS:
        return True
    return _bank_value_ok(reg, value, limits)


def tile_access_error(address, value, write, busy, limits):
    """The :class:`TileErr` bit a tile's register file raises for an access to ``address`` (a write of ``value``
    when ``write``, with the tile ``busy``: an MVM armed or running, outputs draining or activations buffered), or
    0 for a legal access."""
    check_int("address", address, 0, 31)
    if address not in TileReg._value2member_map_:
        return TileErr.ILLEGAL_ADDRESS
    reg = TileReg(address)
    if not write:
        return 0
    if reg in TILE_READ_ONLY:
        return TileErr.ILLEGAL_ADDRESS
    if reg in TILE_CONFIG and busy:
        return TileErr.WRITE_WHILE_BUSY
    return 0 if _tile_value_ok(reg, value, limits) else TileErr.BAD_VALUE


def chip_access_error(address, value, write, limits):
    """The :class:`ChipErr` bit the chip's register file raises for an access to its register ``address``, or 0."""
    check_int("address", address, 0, 31)
    if address not in ChipReg._value2member_map_:
        return ChipErr.CHIP_REG
    reg = ChipReg(address)
    if not write:
        return 0
    if reg not in CHIP_WRITABLE:
        return ChipErr.CHIP_REG
    if reg == ChipReg.CTRL:
        ok = not value & ~int(sum(ChipCtrl)) & ((1 << WORD_BITS) - 1)
    elif reg in RED_BN_REGS:
        ok = _bank_value_ok(RED_BN_REGS[reg], value, limits)
    else:
        ok = True
    return 0 if ok else ChipErr.BAD_VALUE
