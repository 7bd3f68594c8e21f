"""Drift remedies on the golden chip: BN recalibration, selective reprogramming, global drift compensation.

Ref: docs/architecture.md §3 (drift, D1), §4 step 5 (BN registers), §6 (drift management); model/chip.py.

Right after programming, :func:`record_reference` stores with the chip what the remedies compare against later
(:class:`DriftReference`): the programming-time BN registers, the per-channel mean and standard deviation of the
accumulators before BN (after partial-sum reduction) over :data:`N_CALIBRATION` of the network's calibration inputs
(for the digits CNN, images of the *training* split), and each reduction group's probe readout. Time t = 0 is the
freshly programmed state (D1).

**BN recalibration** (:func:`recalibrate_bn`). At time t the calibration images run through the drifted chip, one
layer at a time in network order (a layer's statistics are measured with the earlier layers already recalibrated),
and channel j's affine map is rewritten so that its accumulators' mean and standard deviation become the recorded
ones: with k = sd0 / sd_t (1 where sd_t = 0), acc' = k (acc - mu_t) + mu0, so the real multiplier and offset of the
programming-time registers (m = s 2^-r, o = b 2^-r) become m k and o + m (mu0 - k mu_t), rounded into registers of
the same format by ``model.quantise.affine_registers``. :func:`recalibrate_registers` is that step on raw
accumulators alone, so a testbench that reads accumulators out of the tile RTL (raw mode) gets the same registers
bit for bit.

**Global drift compensation** (:func:`compensate_global_drift`, aihwkit style, for comparison). A fixed probe input
(:func:`probe_input`) is applied to every tile; the readout of a reduction group is the mean |accumulator| over the
probe vectors and its used columns; alpha = readout at t = 0 / readout at t multiplies the programming-time BN
multipliers. One scale per reduction group: a row-split layer's tiles are added before BN, so their accumulators
can only be scaled together.

**Selective reprogramming** (:func:`fisher_diagonal`, :func:`select_sensitive`, :func:`reprogram_selected`). The
diagonal Fisher information of every weight is the expected squared gradient of the log-likelihood of the 8-bit
(QAT) network, averaged over training images, with the label drawn from the network's own predictive distribution
(exact expectation over the 10 classes), using model/train.py's backward pass. Ranked globally, it is expressed per
unit of conductance: F_G = F_w (dw/dG)^2 with dw/dG = w_scale_j max|w_int_j| / Gmax for column j (the chip's per
column scale), so weights of different layers compare on the devices' scale. The top ``budget`` fraction of the
weights is reprogrammed at time t (both devices of each differential pair: fresh programming noise and drift
exponents, drift clock reset, ``CrossbarTile.reprogram``); the number of devices rewritten is returned.
"""

from dataclasses import dataclass

import numpy as np

from neurophase.model.arith import reduce_partial_sums
from neurophase.model.chip_pass import LayerPass
from neurophase.model.checks import check_int, check_nonnegative, check_shape
from neurophase.model.quantise import affine_registers

__all__ = ["N_CALIBRATION", "CALIBRATION_SEED", "PROBE_VECTORS", "PROBE_SEED", "calibration_images",
           "channel_stats", "recalibrate_registers", "recalibrate_layer", "DriftReference", "record_reference",
           "recalibrate_bn", "probe_input", "group_readouts", "compensate_global_drift", "fisher_diagonal",
           "conductance_fisher", "select_sensitive", "reprogram_selected", "layer_keys"]

N_CALIBRATION = 100
CALIBRATION_SEED = 101          # read-noise seed of calibration runs (test runs use their own)
PROBE_VECTORS = 32
PROBE_SEED = 202
PROBE_DENSITY = 1 / 16          # fraction of non-zero probe activations: keeps every plane inside the ADC range


def calibration_images(network, n=N_CALIBRATION):
    """The calibration inputs stored with the chip: the first ``n`` of ``network``'s calibration inputs (for the
    digits CNN, the first images of the already shuffled training split, never the test set), in its ONNX layout."""
    return network.calibration[:check_int("n", n, 1, len(network.calibration))]


def channel_stats(acc):
    """Per-channel mean and (population) standard deviation of accumulators ``acc`` (samples, channels)."""
    a = np.asarray(acc, dtype=np.float64)
    if a.ndim != 2 or len(a) < 1:
        raise ValueError(f"acc must be a 2-D array (samples, channels) with at least one sample, got shape {a.shape}")
    return a.mean(axis=0), a.std(axis=0)


def recalibrate_registers(acc, ref_mean, ref_std, base, fmt):
    """The :class:`~neurophase.model.arith.BnRegisters` that map raw accumulators ``acc`` (samples, channels)
    measured now onto the reference per-channel statistics, starting from the programming-time registers ``base``."""
    n = base.channels
    check_shape("acc", np.asarray(acc), (None, n))
    mean, std = channel_stats(acc)
    ref_mean, ref_std = np.asarray(ref_mean, np.float64), np.asarray(ref_std, np.float64)
    check_shape("ref_mean", ref_mean, (n,))
    check_shape("ref_std", ref_std, (n,))
    k = np.divide(ref_std, std, out=np.ones_like(std), where=std > 0)
    m = base.multiplier
    return affine_registers(m * k, base.offset + m * (ref_mean - k * mean), fmt)


def layer_keys(chip, name):
    """Register keys (layer, column block) of layer ``name`` and the output channels each covers."""
    cols = chip.config.tile.columns
    return [(key, slice(key[1] * cols, key[1] * cols + regs.channels))
            for key, regs in chip.registers.items() if key[0] == name]


@dataclass
class DriftReference:
    """What is stored with a chip right after programming (t = 0), for the remedies to compare against."""
    registers: dict          # (layer, column block) -> BnRegisters as programmed
    mean: dict               # layer -> (c_out,) accumulator mean over the calibration images
    std: dict                # layer -> (c_out,) accumulator standard deviation
    readout: dict            # first tile of a reduction group -> mean |accumulator| of the probe
    n_calibration: int


def record_reference(chip, n_calibration=None):
    """Record the calibration statistics and probe readouts of a freshly programmed ``chip`` (t = 0) on its first
    ``n_calibration`` calibration inputs (default :data:`N_CALIBRATION`, or all when the network has fewer)."""
    if n_calibration is None:
        n_calibration = min(N_CALIBRATION, len(chip.network.calibration))
    registers = dict(chip.registers)
    mean, std = {}, {}
    p = LayerPass(chip, calibration_images(chip.network, n_calibration), 0.0, CALIBRATION_SEED)
    while p.pending is not None:
        ql, acc = p.pending, p.accumulators()
        mean[ql.name], std[ql.name] = channel_stats(p.kept(acc))
        p = p.advance(acc)
    return DriftReference(registers, mean, std, group_readouts(chip, 0.0, PROBE_SEED), n_calibration)


def recalibrate_bn(chip, t, reference, seed=CALIBRATION_SEED):
    """Global BN recalibration of ``chip`` at ``t`` seconds after programming: rewrites ``chip.registers`` and
    returns them. The calibration images go through the chip one layer at a time (read-noise ``seed``): each layer
    is measured once, after the earlier layers were recalibrated, and its outputs for the next layer come from the
    same accumulators through its new registers (as the host's recalibration program does, model/host.py). The same
    registers as running the whole network once per layer with the same seed, which reads the earlier layers again
    with the same noise."""
    t = check_nonnegative("t (s)", t)
    chip.registers = dict(reference.registers)
    p = LayerPass(chip, calibration_images(chip.network, reference.n_calibration), t, seed)
    while p.pending is not None:
        ql, acc = p.pending, p.accumulators()
        chip.registers.update(recalibrate_layer(chip, ql.name, p.kept(acc), reference))
        p = p.advance(acc)
    return chip.registers


def recalibrate_layer(chip, name, acc, reference):
    """The recalibrated registers {(layer, column block): BnRegisters} of layer ``name`` from its
    accumulators after partial-sum reduction ``acc`` (calibration MVMs, c_out) measured now: per column block,
    :func:`recalibrate_registers` against the ``reference`` statistics and programming-time registers. Used by
    :func:`recalibrate_bn` and by the chip's host compiler (model/host.py), on accumulators read out of the chip."""
    return {key: recalibrate_registers(acc[:, cs], reference.mean[name][cs], reference.std[name][cs],
                                       reference.registers[key], chip.config.fmt)
            for key, cs in layer_keys(chip, name)}


def probe_input(rows, vectors=PROBE_VECTORS, seed=PROBE_SEED):
    """The fixed probe of global drift compensation: ``vectors`` seeded pseudo-random activation vectors of
    ``rows`` unsigned 8-bit codes, a fraction PROBE_DENSITY of them non-zero (uniform in 1..255), like the sparse
    post-ReLU activations the ADC ranges were set for."""
    rng = np.random.default_rng(seed)
    codes = rng.integers(1, 256, size=(vectors, rows))
    return np.where(rng.random((vectors, rows)) < PROBE_DENSITY, codes, 0)


def group_readouts(chip, t, seed):
    """Readout of every reduction group at time ``t``: mean |accumulator| of the probe over its used columns.
    Keyed by the group's first tile; read noise from ``default_rng([seed, tile])``."""
    out = {}
    for a in chip.mapping.tiles:
        if a.row_block:
            continue
        group = chip.mapping.reduction_group(a.tile)
        probe = probe_input(chip.qlayers[a.layer_index].layer.fan_in)
        parts = []
        for n in group:
            b = chip.mapping.tile(n)
            x = probe[:, b.row_start:b.row_stop]
            res = chip.tiles[n].mvm(x, t, np.random.default_rng([seed, n]), encoding=chip.encoding(n))
            parts.append(res.acc[:, :b.columns])
        acc, _ = reduce_partial_sums(np.stack(parts), chip.config.fmt)
        out[a.tile] = float(np.abs(acc).mean())
    return out


def compensate_global_drift(chip, t, reference, seed=PROBE_SEED + 1):
    """Global drift compensation at ``t``: folds alpha = readout(0) / readout(t) of each reduction group into the
    programming-time BN multipliers; rewrites ``chip.registers`` and returns {first tile of group: alpha}."""
    t = check_nonnegative("t (s)", t)
    now = group_readouts(chip, t, seed)
    alphas = {}
    for a in chip.mapping.tiles:
        if a.row_block:
            continue
        alpha = reference.readout[a.tile] / now[a.tile] if now[a.tile] > 0 else 1.0
        base = reference.registers[(a.layer, a.col_block)]
        chip.registers[(a.layer, a.col_block)] = affine_registers(
            base.multiplier * alpha, base.offset, chip.config.fmt,
            f"global drift compensation of layer {a.layer}, column block {a.col_block}")
        alphas[a.tile] = alpha
    return alphas


# -- selective reprogramming ------------------------------------------------------------------------------------------
def fisher_diagonal(params, pixels):
    """Diagonal Fisher information of every layer's weights, {layer: (fan_in, c_out)}: the mean over ``pixels``
    of sum_c p(c|x) (d log p(c|x) / dw)^2 for the 8-bit (QAT) network (straight-through quantisers). The digits CNN's
    own training code gives the gradients, so only that network has it."""
    from neurophase.model.train import backward, forward
    fisher = {}
    for x in pixels:
        logits, cache = forward(params, x[None], "qat")
        z = logits - logits.max()
        p = np.exp(z) / np.exp(z).sum()
        for c in range(p.shape[1]):
            dlogits = p.copy()
            dlogits[0, c] -= 1.0                      # d(-log p_c)/dlogits; the sign vanishes when squared
            grads = backward(params, cache, dlogits, "qat")
            for k, g in grads.items():
                if k.endswith(".w"):
                    fisher[k[:-2]] = fisher.get(k[:-2], 0.0) + p[0, c] * g * g
    return {k: v / len(pixels) for k, v in fisher.items()}


def conductance_fisher(qlayers, fisher):
    """Fisher information per unit of device conductance (in Gmax units): F_w (w_scale_j max|w_int_j|)^2, for the
    integer layers ``qlayers`` (``model.network.quant_layers`` of the parameters the Fisher was computed on)."""
    out = {}
    for ql in qlayers:
        unit = ql.w_scale * np.maximum(np.abs(ql.w_int).max(axis=0), 1)
        out[ql.name] = fisher[ql.name] * unit ** 2
    return out


def select_sensitive(sensitivity, budget):
    """Boolean masks {layer: (fan_in, c_out)} of the ``budget`` fraction (0..1) of all weights with the highest
    ``sensitivity``, ranked over every layer together (ties broken by layer order, then position)."""
    if not 0.0 <= float(budget) <= 1.0:
        raise ValueError(f"budget must be a fraction in [0, 1], got {budget!r}")
    names = list(sensitivity)
    flat = np.concatenate([sensitivity[n].ravel() for n in names])
    n_sel = int(np.floor(budget * flat.size))
    chosen = np.zeros(flat.size, bool)
    chosen[np.argsort(-flat, kind="stable")[:n_sel]] = True
    out, i = {}, 0
    for n in names:
        out[n] = chosen[i:i + sensitivity[n].size].reshape(sensitivity[n].shape)
        i += sensitivity[n].size
    return out


def reprogram_selected(chip, selection, t, seed):
    """Reprogram, at ``t`` seconds after programming, both devices of every weight selected in ``selection``
    ({layer: (fan_in, c_out) bool}); tile n draws from ``default_rng([seed, n])``. Returns the devices rewritten."""
    t = check_nonnegative("t (s)", t)
    total = 0
    for a in chip.mapping.tiles:
        sel = selection[a.layer][a.row_start:a.row_stop, a.col_start:a.col_stop]
        tile = chip.tiles[a.tile]
        mask = np.zeros(tile.devices.g_target.shape, bool)
        mask[:a.rows, 0:2 * a.columns:2] = sel
        mask[:a.rows, 1:2 * a.columns:2] = sel
        total += tile.reprogram(mask, np.random.default_rng([seed, a.tile]), t)
    return total
