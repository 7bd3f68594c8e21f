"""The exact integer arithmetic of the digital periphery: the one definition shared by model and scoreboards.

Ref: docs/architecture.md §4 (digital contract). The RTL implements these functions bit for bit; the cocotb
scoreboards call them rather than re-deriving the arithmetic.

Every function works on numpy int64 arrays (vectorised over any leading batch axes) and returns, beside the
result, the number of saturation events so that the RTL's saturation counters can be checked too.

The host's residual add (:class:`AddRegisters`, docs/architecture.md D9) is defined here too: it is exact integer
arithmetic on the codes the chip returns, like the BN unit's.

The input encoding (model/interface.py ``InputEncoding``, docs/architecture.md D8) decides how activations become
wordline pulses (:func:`wordline_pulses`, :func:`read_window`) and how the reads' ADC codes become an accumulator
(:func:`accumulate`): bit-serial reads are combined by shift-and-add, a PWM read's code is the accumulator.
"""

from dataclasses import dataclass

import numpy as np

from neurophase.model.checks import check_int, check_signed_array, check_unsigned_array, signed_range
from neurophase.model.interface import InputEncoding

__all__ = ["PeripheryFormat", "saturate", "shift_and_add", "shift_and_add_valid", "reduce_partial_sums",
           "bn_requantise", "BnRegisters", "bit_planes", "wordline_pulses", "read_window", "accumulate",
           "accumulate_valid", "AddRegisters"]


@dataclass(frozen=True)
class PeripheryFormat:
    """Widths of the digital periphery (docs/architecture.md §4).

    Parameters
    ----------
    b_in : activation width, unsigned, applied bit-serially (1..16).
    b_adc : ADC code width, signed two's complement (2..12).
    acc_bits : shift-and-add accumulator width, signed; >= b_adc + b_in + 4 by default rule, any >= b_adc + 1 allowed.
    scale_bits : BN scale register width, signed.
    bias_bits : BN bias register width, signed.
    shift_max : largest BN right shift r.
    out_bits : width of a last layer's signed output.
    """
    b_in: int = 8
    b_adc: int = 8
    acc_bits: int = 20
    scale_bits: int = 16
    bias_bits: int = 32
    shift_max: int = 31
    out_bits: int = 16

    def __post_init__(self):
        check_int("b_in", self.b_in, 1, 16)
        check_int("b_adc", self.b_adc, 2, 12)
        check_int("acc_bits", self.acc_bits, self.b_adc + 1, 40)
        check_int("scale_bits", self.scale_bits, 2, 20)
        check_int("bias_bits", self.bias_bits, 2, 48)
        check_int("shift_max", self.shift_max, 0, 47)
        check_int("out_bits", self.out_bits, 2, 32)
        if self.acc_bits + self.scale_bits + 2 > 62 or self.bias_bits > 60:
            raise ValueError("acc_bits + scale_bits must be <= 60 so the BN product fits in int64, "
                             f"got {self.acc_bits} + {self.scale_bits}")

    @property
    def product_bits(self):
        """Width of the BN datapath before the shift: product, plus bias, plus rounding, without overflow."""
        return max(self.acc_bits + self.scale_bits, self.bias_bits) + 2


def saturate(x, bits):
    """Clamp int64 ``x`` to signed ``bits``-bit range; return (clamped, number of entries that were clamped)."""
    lo, hi = signed_range(bits)
    y = np.clip(x, lo, hi)
    return y, int(np.count_nonzero(y != x))


def bit_planes(x, b_in):
    """Split unsigned activations ``x`` (..., rows) into bit-planes (b_in, ..., rows), MSB first, as uint8 0/1."""
    x = check_unsigned_array("activations", x, b_in)
    dtype = np.uint8 if b_in <= 8 else np.uint16      # narrow shifts: 8x less memory traffic than int64
    shifts = np.arange(b_in - 1, -1, -1, dtype=dtype).reshape((b_in,) + (1,) * x.ndim)
    return ((x.astype(dtype)[None] >> shifts) & dtype(1)).astype(np.uint8, copy=False)


def wordline_pulses(x, encoding, b_in):
    """Pulse lengths, in unit times, that unsigned activations ``x`` (..., rows) drive on the wordlines, one array
    per read: (reads, ..., rows), unsigned integers. BIT_SERIAL: the b_in bit-planes, MSB first (a pulse of one unit
    where the bit is 1); PWM: one read, a pulse of x unit times (D8)."""
    if InputEncoding.parse(encoding) is InputEncoding.BIT_SERIAL:
        return bit_planes(x, b_in)
    x = check_unsigned_array("activations", x, b_in)
    return x.astype(np.uint8 if b_in <= 8 else np.uint16)[None]


def read_window(encoding, b_in):
    """Unit times of one read's integration window: 1 (a bit-serial plane is one pulse), 2^b_in - 1 (PWM: the
    longest pulse). The ADC converts the window's mean current (D8)."""
    check_int("b_in", b_in, 1, 16)
    return 1 if InputEncoding.parse(encoding) is InputEncoding.BIT_SERIAL else (1 << b_in) - 1


def shift_and_add(codes, fmt):
    """Accumulate ADC codes of the bit-planes, MSB first: acc <- sat(2*acc + code).

    ``codes`` has shape (b_in, ...): plane 0 is the MSB. Saturation is applied after every step, as the RTL
    does. Returns (acc, saturations) where saturations counts the (plane, element) steps that clamped.
    """
    return accumulate(codes, fmt, InputEncoding.BIT_SERIAL)


def accumulate(codes, fmt, encoding):
    """The accumulator of an MVM from the ADC codes of its reads, (reads, ...) -> (...), and its saturation count.

    BIT_SERIAL: :func:`shift_and_add` over the b_in bit-planes. PWM: one read, whose code is the accumulator
    (sign-extended to acc_bits; it always fits, as acc_bits > b_adc, so nothing saturates).
    """
    encoding = InputEncoding.parse(encoding)
    codes = check_signed_array("codes", codes, fmt.b_adc)
    reads = encoding.reads(fmt.b_in)
    if codes.ndim < 1 or codes.shape[0] != reads:
        what = f"b_in={fmt.b_in} bit-planes" if encoding is InputEncoding.BIT_SERIAL else "1 read (PWM)"
        raise ValueError(f"codes must have {what} on axis 0, got shape {codes.shape}")
    return accumulate_valid(codes, fmt, encoding)


def accumulate_valid(codes, fmt, encoding):
    """:func:`accumulate` for codes already known to be int64 b_adc-bit codes with the encoding's reads (hot path)."""
    if encoding is InputEncoding.BIT_SERIAL:
        return shift_and_add_valid(codes, fmt)
    return codes[0].copy(), 0


def shift_and_add_valid(codes, fmt):
    """:func:`shift_and_add` for codes already known to be int64 b_adc-bit codes with b_in planes (hot path)."""
    lo, hi = signed_range(fmt.acc_bits)
    # Fast path: when no step can saturate the result is the exact weighted sum (the common case).
    if -signed_range(fmt.b_adc)[0] * ((1 << fmt.b_in) - 1) <= hi:
        acc = codes[0].copy()
        for b in range(1, fmt.b_in):
            acc <<= 1
            acc += codes[b]
        return acc, 0
    acc = np.zeros(codes.shape[1:], dtype=np.int64)
    sats = 0
    for b in range(fmt.b_in):
        acc, n = saturate(2 * acc + codes[b], fmt.acc_bits)
        sats += n
    return acc, sats


def reduce_partial_sums(partials, fmt):
    """Add the accumulators of a row-split layer's tiles (axis 0), saturating after each addition.

    The RTL adds tile by tile in tile order; saturation after each add is applied the same way here.
    """
    partials = check_signed_array("partials", partials, fmt.acc_bits)
    total = partials[0].copy()
    sats = 0
    for p in partials[1:]:
        total, n = saturate(total + p, fmt.acc_bits)
        sats += n
    return total, sats


def bn_requantise(acc, scale, bias, shift, fmt, relu=True, last=False):
    """Batch-norm / affine unit and requantisation, per output channel.

    y = sat(((acc * scale) + bias + round) >>> shift), round = 2^(shift-1) (0 when shift = 0);
    then ReLU when ``relu``; then the result is clamped to the next layer's unsigned b_in-bit activations, or, for
    the ``last`` layer, to signed out_bits. ``acc`` is (..., channels); ``scale`` and ``bias`` are (channels,).
    Returns (y, saturations): saturations counts outputs clamped at the top or (signed) bottom of the range;
    ReLU zeroing is not a saturation.
    """
    acc = check_signed_array("acc", acc, fmt.acc_bits)
    scale = check_signed_array("scale", scale, fmt.scale_bits)
    bias = check_signed_array("bias", bias, fmt.bias_bits)
    shift = check_int("shift", shift, 0, fmt.shift_max)
    rnd = (1 << (shift - 1)) if shift else 0
    z = (acc * scale + bias + rnd) >> shift   # numpy >> on int64 is arithmetic, as >>> in the RTL
    if relu:
        z = np.maximum(z, 0)
    if last:
        return saturate(z, fmt.out_bits)
    hi = (1 << fmt.b_in) - 1
    y = np.clip(z, 0, hi)
    return y, int(np.count_nonzero(y != z))


@dataclass(frozen=True, eq=False)
class BnRegisters:
    """The BN registers of one column block (a tile's BN unit or the chip's reducer): a scale and a bias per output
    channel, one right shift. The arrays are int64 copies, read-only, so a register set can be shared.

    :meth:`requantise` is :func:`bn_requantise` with these registers; :attr:`multiplier` and :attr:`offset` are the
    real affine map they apply (``model.quantise.affine_registers`` is the inverse); :meth:`mismatches` counts the
    values that differ from another set's.
    """
    scale: np.ndarray
    bias: np.ndarray
    shift: int

    def __post_init__(self):
        for name in ("scale", "bias"):
            arr = np.asarray(getattr(self, name))
            if arr.dtype.kind not in "iu":
                raise ValueError(f"BN {name} must be an array of integers, got dtype {arr.dtype}")
            arr = np.array(arr, dtype=np.int64)
            arr.setflags(write=False)
            object.__setattr__(self, name, arr)
        if self.scale.ndim != 1 or self.bias.shape != self.scale.shape:
            raise ValueError(f"BN scale and bias must be 1-D arrays of one length (a value per channel), got shapes "
                             f"{self.scale.shape} and {self.bias.shape}")
        object.__setattr__(self, "shift", check_int("BN shift", self.shift, 0))

    @property
    def channels(self):
        return len(self.scale)

    @property
    def multiplier(self):
        """The real multiplier per channel, ``scale 2^-shift``."""
        return self.scale * 2.0 ** -self.shift

    @property
    def offset(self):
        """The real offset per channel, ``bias 2^-shift``."""
        return self.bias * 2.0 ** -self.shift

    def requantise(self, acc, fmt, relu=True, last=False):
        """:func:`bn_requantise` of ``acc`` (..., channels) with these registers: (y, saturations)."""
        return bn_requantise(acc, self.scale, self.bias, self.shift, fmt, relu=relu, last=last)

    def mismatches(self, other):
        """Values (every channel's scale and bias, the shift) that differ from ``other``'s; register sets over
        different numbers of channels differ in all of them."""
        if self.channels != other.channels:
            return 2 * max(self.channels, other.channels) + 1
        return (int(np.count_nonzero(self.scale != other.scale)) + int(np.count_nonzero(self.bias != other.bias))
                + int(self.shift != other.shift))


@dataclass(frozen=True)
class AddRegisters:
    """The integer rule of a residual add on the host (docs/architecture.md D9): codes ``a`` and ``b`` (8-bit
    activations, or signed ``out_bits`` outputs of a layer in last mode) with zero points ``zero_a``, ``zero_b``
    give the next layer's unsigned ``b_in``-bit codes::

        z = ((a - zero_a) mult_a + (b - zero_b) mult_b + round) >>> shift,  round = 2^(shift-1) (0 when shift = 0)
        y = clip(max(z, 0) if relu else z) + zero_out, 0, 2^b_in - 1)

    The multipliers are each input's scale over the output's, in units of 2^-shift (signed, at most
    ``fmt.scale_bits`` bits, as a BN scale).
    """
    mult_a: int
    mult_b: int
    zero_a: int
    zero_b: int
    shift: int
    zero_out: int
    relu: bool

    def apply(self, a, b, fmt):
        """The add's output codes and the number of them clamped at either end ((y, saturations))."""
        rnd = (1 << (self.shift - 1)) if self.shift else 0
        a, b = np.asarray(a, np.int64), np.asarray(b, np.int64)
        z = ((a - self.zero_a) * self.mult_a + (b - self.zero_b) * self.mult_b + rnd) >> self.shift
        if self.relu:
            z = np.maximum(z, 0)
        z += self.zero_out
        y = np.clip(z, 0, (1 << fmt.b_in) - 1)
        return y, int(np.count_nonzero(y != z))
