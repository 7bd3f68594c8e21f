"""ADC offset calibration: offsets measured once with no input and absorbed into the BN bias registers.

Ref: docs/architecture.md D12. With every wordline off the bitline currents are 0, so what a column's accumulator
reads is its ADC's offset (rounded by the conversion; with comparator noise, dithered by it): bit-serially the code of
each plane, shift-and-added over the b_in planes, ``acc0 ~= o_j (2^b_in - 1)``; with PWM the one code, ``acc0 ~= o_j``.
:func:`calibrate_adc_offsets` reads ``vectors`` all-zero MVMs through every tile of each reduction group (raw
accumulators added as the chip does), averages them per channel and rewrites the group's BN bias ``b`` to ``b - round(s
acc0)``, so that ``acc s + b`` no longer carries the offset. The host can do this on the chip as built (raw mode, an
MVM of zeros), once, before the reference statistics are recorded.

What it cannot remove: gain error (the chip has no reference current to measure it against; a BN recalibration to
reference statistics absorbs it in the scale), the rounding of a static offset into whole codes per plane, and
comparator noise (fresh on every comparison).
"""

import numpy as np

from neurophase.model.arith import BnRegisters, reduce_partial_sums
from neurophase.model.checks import check_int, signed_range

__all__ = ["OFFSET_SEED", "OFFSET_VECTORS", "calibrate_adc_offsets"]

OFFSET_SEED = 303           # read-noise (and comparator-noise) seed of the calibration MVMs
OFFSET_VECTORS = 32


def calibrate_adc_offsets(chip, vectors=OFFSET_VECTORS, seed=OFFSET_SEED):
    """Measure every reduction group's zero-input accumulators and fold them into ``chip.registers``' biases;
    returns {(layer, column block): per-channel mean zero-input accumulator}."""
    vectors = check_int("vectors", vectors, 1, 4096)
    fmt = chip.config.fmt
    lo, hi = signed_range(fmt.bias_bits)
    measured = {}
    for a in chip.mapping.tiles:
        if a.row_block:
            continue
        parts = []
        for n in chip.mapping.reduction_group(a.tile):
            b = chip.mapping.tile(n)
            res = chip.tiles[n].mvm(np.zeros((vectors, b.rows), np.int64), 0.0, np.random.default_rng([seed, n]),
                                    encoding=chip.encoding(n))
            parts.append(res.acc[:, :b.columns])
        acc, _ = reduce_partial_sums(np.stack(parts), fmt)
        key = (a.layer, a.col_block)
        regs = chip.registers[key]
        acc0 = acc.mean(axis=0)
        bias = regs.bias - np.rint(regs.scale * acc0).astype(np.int64)
        if bias.min() < lo or bias.max() > hi:
            raise ValueError(f"offset-calibrated BN bias of {key} leaves the {fmt.bias_bits}-bit register range")
        chip.registers[key] = BnRegisters(regs.scale, bias, regs.shift)
        measured[key] = acc0
    return measured
