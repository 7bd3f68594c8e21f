"""Wire (IR) drop in the crossbar: the effective conductance matrix that the wordline and bitline resistance leave.

Ref: docs/architecture.md §3 (optional non-idealities), D11. Sources: segment resistance per cell as in IBM aihwkit's
``IOParameters.ir_drop_g_ratio`` (0.35 ohm from one cell to the next) and Sandia's CrossSim (parasitic resistance
solved on the array's circuit).

Circuit. Wordline i (row) is driven at the bitline-0 end: its driver holds V_i (V_read while the wordline is pulsed,
0 V otherwise, as CrossSim drives a zero input) behind one segment ``r_wordline``, then one segment between each pair
of neighbouring cells. Bitline j (physical column) ends at the ADC's virtual ground (0 V) behind one segment
``r_bitline`` past the last row, with one segment between neighbouring cells. The device (i, j) joins wordline node
(i, j) and bitline node (i, j). So cell (0, last bitline) is the farthest from both driver and ADC: the mapper puts a
layer's rows at the top of the tile, i.e. the farthest from the ADCs (the worst case).

Exactness of one matrix. The circuit is linear and every driver holds a fixed voltage, so the current into ADC j is
``I_j = sum_i V_i G_eff[i, j]`` for every drive pattern: one effective conductance matrix ``G_eff`` (the currents of a
unit voltage on each wordline alone) describes every read of both input encodings exactly (a bit-plane is a 0/1 drive
pattern; a PWM read integrates the drive over its window, and the charge is the same linear map of the pulse lengths).
The tile computes ``G_eff`` once per read time, so an MVM costs nothing more with IR drop than without.

Two ways to compute ``G_eff``:

* :func:`exact_effective_conductance`: the nodal equations of all 2 x rows x bitlines nodes, solved with a sparse LU
  factorisation (scipy's SuperLU) for a unit drive on each wordline. The reference; seconds for a full tile.
* :func:`ladder_effective_conductance` (the MVM path): each line solved exactly as a 1-D resistor ladder with the
  other line ideal. Wordline i with its bitline nodes at 0 V gives the attenuation ``a[i, j]`` of its node voltages
  (a backward recursion for the admittance seen from each node, then a product of voltage dividers). Bitline j with
  its wordline nodes held is a ladder with a Norton source ``G W`` and a shunt ``G`` at each node; ``b[i, j]`` is the
  fraction of the current injected at node i that reaches the ADC. Then ``G_eff = G a b``. What it leaves out is the
  coupling of the two drops (the bitline's rise lowers the wordline's load, and an undriven wordline's nodes float
  slightly): an error of the order of the product of the two relative drops. Measured against the exact solve:
  docs/architecture.md D11 and tests/test_model_ir_drop.py.
"""

import numpy as np

from neurophase.model.checks import check_finite_array, check_nonnegative

__all__ = ["effective_conductance", "exact_effective_conductance", "ladder_effective_conductance"]


def effective_conductance(g, r_wordline, r_bitline, exact=False):
    """``G_eff`` (rows x bitlines, S) of the array of device conductances ``g`` with segment resistances
    ``r_wordline`` and ``r_bitline`` (ohm per cell): ``g`` itself when both are 0 (no IR drop), else the ladder method,
    or the exact nodal solve when ``exact``."""
    if r_wordline == 0 and r_bitline == 0:
        return g
    solve = exact_effective_conductance if exact else ladder_effective_conductance
    return solve(g, r_wordline, r_bitline)


def _checked(g, r_wordline, r_bitline):
    # Not checked for >= 0: a read's noise (a Gaussian factor) can take a device a little below 0 S.
    g = check_finite_array("conductances (S)", g)
    if g.ndim != 2:
        raise ValueError(f"conductances must be a 2-D array (rows x bitlines), got shape {g.shape}")
    return g, check_nonnegative("r_wordline (ohm)", r_wordline), check_nonnegative("r_bitline (ohm)", r_bitline)


def _series(g_segment, y):
    """Admittance of a segment in series with admittance ``y`` (an infinite segment conductance passes ``y``)."""
    return y if np.isinf(g_segment) else g_segment * y / (g_segment + y)


def _conductance(r):
    return np.inf if r == 0 else 1.0 / r


def ladder_effective_conductance(g, r_wordline, r_bitline):
    """The fast method: ``G_eff = g a b`` from the wordline and bitline ladders each solved exactly with the other
    line ideal (module docstring). O(rows x bitlines), vectorised over the lines."""
    g, r_w, r_b = _checked(g, r_wordline, r_bitline)
    return g * _wordline_attenuation(g, _conductance(r_w)) * _bitline_transfer(g, _conductance(r_b))


def _wordline_attenuation(g, gw):
    """a[i, j] = node voltage / driver voltage on wordline i, its bitline nodes at 0 V: the admittance Y_j seen into
    node j from its left segment is g_ij + series(gw, Y_{j+1}); then each segment divides by gw / (gw + Y_j)."""
    rows, cols = g.shape
    if np.isinf(gw):
        return np.ones_like(g)
    y = np.empty_like(g)
    y[:, -1] = g[:, -1]
    for j in range(cols - 2, -1, -1):
        y[:, j] = g[:, j] + _series(gw, y[:, j + 1])
    return np.cumprod(gw / (gw + y), axis=1)


def _bitline_transfer(g, gb):
    """b[i, j] = the fraction of a current injected at node i of bitline j that reaches the ADC, with every
    wordline node held (a shunt g_ij to a fixed voltage at each node). Admittances seen from node i: up (toward row
    0) ``up_i = series(gb, g_{i-1} + up_{i-1})``, down ``down_i = series(gb, g_{i+1} + down_{i+1})`` with the last
    row's ``down = gb`` (its segment to the virtual ground); the current leaves node i downward in the share
    ``down_i / (g_i + up_i + down_i)`` and passes each lower node in the share ``down_k / (g_k + down_k)``."""
    rows, cols = g.shape
    if np.isinf(gb):
        return np.ones_like(g)
    up = np.zeros_like(g)
    for i in range(1, rows):
        up[i] = _series(gb, g[i - 1] + up[i - 1])
    down = np.empty_like(g)
    down[-1] = gb
    for i in range(rows - 2, -1, -1):
        down[i] = _series(gb, g[i + 1] + down[i + 1])
    leave = down / (g + up + down)
    passes = down / (g + down)
    # The product of the pass shares of the rows below i: a reversed cumulative product, shifted by one row.
    below = np.ones_like(g)
    below[:-1] = np.cumprod(passes[::-1], axis=0)[::-1][1:]
    return leave * below


def exact_effective_conductance(g, r_wordline, r_bitline):
    """The reference: ``G_eff`` from the nodal equations of the whole array, solved with a sparse LU factorisation
    for a unit voltage on each wordline in turn (the others at 0 V). Both resistances must be > 0 (an ideal line has
    no nodes of its own). Unknowns: the wordline and the bitline node voltages, 2 x rows x bitlines."""
    import scipy.sparse as sp
    from scipy.sparse.linalg import splu
    g, r_w, r_b = _checked(g, r_wordline, r_bitline)
    if r_w == 0 or r_b == 0:
        raise ValueError(f"the exact IR-drop solve needs r_wordline and r_bitline > 0 ohm, got {r_w} and {r_b}")
    rows, cols = g.shape
    n = rows * cols
    gw, gb = 1.0 / r_w, 1.0 / r_b
    node = np.arange(n).reshape(rows, cols)
    wl, bl = node, node + n                       # wordline node (i, j) and bitline node (i, j)
    entries = [(wl.ravel(), bl.ravel(), g.ravel())]          # the devices
    entries.append((wl[:, :-1].ravel(), wl[:, 1:].ravel(), np.full(rows * (cols - 1), gw)))
    entries.append((bl[:-1].ravel(), bl[1:].ravel(), np.full((rows - 1) * cols, gb)))
    a, b, c = (np.concatenate(v) for v in zip(*entries))
    diag = np.bincount(a, c, 2 * n) + np.bincount(b, c, 2 * n)
    diag[wl[:, 0]] += gw                           # segment to the wordline driver
    diag[bl[-1]] += gb                             # segment to the ADC's virtual ground
    matrix = sp.csc_matrix((np.concatenate([-c, -c, diag]),
                            (np.concatenate([a, b, np.arange(2 * n)]), np.concatenate([b, a, np.arange(2 * n)]))),
                           shape=(2 * n, 2 * n))
    lu = splu(matrix, permc_spec="MMD_AT_PLUS_A")     # symmetric: about 2x faster than the default COLAMD
    out = np.empty_like(g)
    for i0 in range(0, rows, 32):                  # unit drives in blocks: bounded memory
        i1 = min(rows, i0 + 32)
        rhs = np.zeros((2 * n, i1 - i0))
        rhs[wl[i0:i1, 0], np.arange(i1 - i0)] = gw
        volts = lu.solve(rhs)
        out[i0:i1] = gb * volts[bl[-1]].T          # current through the last segment into the ADC
    return out
