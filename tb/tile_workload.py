"""A tile workload for the tile testbench: geometry, register values, activations and per-read column currents.

Ref: docs/architecture.md §4, D8. A workload is everything the crossbar stand-in and the scoreboard need, computed
outside the simulator by the golden model (model/tile.py, or model/chip.py for the reference network) and handed to
the cocotb testbench as one ``.npz`` file, so the simulator process only replays it. The expected outputs are not
stored: the scoreboard derives them from the currents with the golden model's own functions (:meth:`expected`).
"""

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np

from neurophase.model.adc import AdcConfig, convert, current_code, rail_hits
from neurophase.model.arith import PeripheryFormat, accumulate, bit_planes, bn_requantise
from neurophase.model.checks import check_int, signed_range
from neurophase.model.interface import InputEncoding, adc_range_code, adc_range_covering, adc_range_current

__all__ = ["Workload", "Expected", "random_workload"]


@dataclass
class Expected:
    """Golden results of a workload's MVMs (used columns only) and the counts the RTL's counters must show."""
    out: np.ndarray             # (mvms, cols_used): BN outputs, or accumulators in raw mode
    sat_adc_low: int
    sat_adc_high: int
    sat_acc: int
    sat_bn: int


@dataclass
class Workload:
    """MVMs for one tile read with ``encoding``. ``currents`` are the golden model's differential column currents (A)
    of every read: the b_in bit-planes (MSB first), or the one PWM read's window mean current (D8)."""
    rows: int
    columns: int
    columns_per_adc: int
    acts_per_beat: int
    fmt: PeripheryFormat
    frac_bits: int
    i_fs: float
    adc_range: int              # ADC_RANGE register value
    rows_used: int
    cols_used: int
    x: np.ndarray               # (mvms, rows_used) unsigned activations
    currents: np.ndarray        # (reads, mvms, columns) A; bit-serial: plane 0 = MSB
    scale: np.ndarray           # (cols_used,) BN registers
    bias: np.ndarray
    shift: int
    relu: bool
    last: bool
    raw: bool                   # stream accumulators (partial sums) instead of BN outputs
    meta: dict = field(default_factory=dict)   # tile, layer, images, time, seed: for reports only
    encoding: InputEncoding = InputEncoding.BIT_SERIAL     # the tile's MODE.encoding

    def __post_init__(self):
        check_int("rows_used", self.rows_used, 1, self.rows)
        check_int("cols_used", self.cols_used, 1, self.columns)
        self.encoding = InputEncoding.parse(self.encoding)
        reads = self.reads
        if self.x.shape[1:] != (self.rows_used,) or self.currents.shape != (reads, len(self.x), self.columns):
            raise ValueError(f"x must be (mvms, {self.rows_used}) and currents ({reads}, mvms, {self.columns}), "
                             f"got {self.x.shape} and {self.currents.shape}")

    @property
    def mvms(self):
        return len(self.x)

    @property
    def reads(self):
        """Reads per MVM (:meth:`InputEncoding.reads`)."""
        return self.encoding.reads(self.fmt.b_in)

    @property
    def adc(self):
        return AdcConfig(bits=self.fmt.b_adc, i_fs=self.i_fs, frac_bits=self.frac_bits)

    @property
    def geometry(self):
        """Parameters of the RTL this workload runs on (one simulator build per distinct geometry)."""
        return dict(rows=self.rows, columns=self.columns, columns_per_adc=self.columns_per_adc,
                    acts_per_beat=self.acts_per_beat, frac_bits=self.frac_bits, **asdict(self.fmt))

    def planes(self, k):
        """Bit-planes (b_in, rows) of MVM ``k``'s activations, zero on unused rows, MSB first."""
        out = np.zeros((self.fmt.b_in, self.rows), dtype=np.uint8)
        out[:, :self.rows_used] = bit_planes(self.x[k], self.fmt.b_in)
        return out

    def current_codes(self, k):
        """Integer current codes (reads, columns) the crossbar stand-in drives into the comparators for MVM ``k``."""
        return current_code(self.currents[:, k], self.adc)

    def expected(self, mvms=None):
        """Golden outputs of MVMs ``mvms`` (default all), through model/adc.py and model/arith.py."""
        sel = slice(None) if mvms is None else np.asarray(mvms)
        codes = convert(self.currents[:, sel, :self.cols_used], self.adc)
        low, high = rail_hits(codes, self.adc)
        acc, sat_acc = accumulate(codes, self.fmt, self.encoding)
        if self.raw:
            out, sat_bn = acc, 0
        else:
            out, sat_bn = bn_requantise(acc, self.scale, self.bias, self.shift, self.fmt, relu=self.relu,
                                        last=self.last)
        return Expected(out, int(low.sum()), int(high.sum()), sat_acc, sat_bn)

    # -- persistence ------------------------------------------------------------------------------------------------
    def save(self, path):
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("fmt", "meta", "encoding")}
        np.savez(path, fmt=np.array(repr(asdict(self.fmt))), meta=np.array(repr(self.meta)),
                 encoding=np.array(self.encoding.label), **arrays)
        return path

    @classmethod
    def load(cls, path):
        import ast
        with np.load(path) as f:
            kw = {}
            for fl in fields(cls):
                v = f[fl.name]
                if fl.name == "fmt":
                    v = PeripheryFormat(**ast.literal_eval(str(v)))
                elif fl.name == "meta":
                    v = ast.literal_eval(str(v))
                elif v.ndim == 0:
                    v = v.item()
                kw[fl.name] = v
        return cls(**kw)


def random_workload(*, rows, columns, columns_per_adc=1, acts_per_beat=8, fmt=PeripheryFormat(), rows_used=None,
                    cols_used=None, mvms=4, seed=0, t=3600.0, raw=False, relu=True, last=False, i_fs=None,
                    encoding=InputEncoding.BIT_SERIAL):
    """A randomly programmed tile (model/tile.py, with programming noise, drift to ``t`` and read noise) read with
    ``encoding`` and random activations, with BN registers drawn so the outputs spread over their range (some
    saturate)."""
    from neurophase.model.tile import CrossbarTile, TileConfig
    rng = np.random.default_rng(seed)
    rows_used = rows if rows_used is None else rows_used
    cols_used = columns if cols_used is None else cols_used
    w = rng.integers(-127, 128, size=(rows_used, cols_used)).astype(float)
    adc = AdcConfig(bits=fmt.b_adc, i_fs=1e-6)
    tile = CrossbarTile.program(w, seed=seed, adc=adc, fmt=fmt, config=TileConfig(rows=rows, bitlines=2 * columns))
    x = rng.integers(0, 1 << fmt.b_in, size=(mvms, rows_used))
    x[0] = 0    # corner case: an all-zero first vector leaves every accumulator at its reset value
    currents = tile.bitline_currents(x, t, rng, encoding=encoding)
    if i_fs is None:
        # A full scale a little under the largest read current: most codes in range, a few on the rails.
        i_fs = adc_range_current(adc_range_covering(float(np.abs(currents).max()) * 0.8))
    adc = AdcConfig(bits=fmt.b_adc, i_fs=i_fs)
    acc, _ = accumulate(convert(currents[:, :, :cols_used], adc), fmt, encoding)
    smax = signed_range(fmt.scale_bits)[1]
    scale = rng.integers(-smax // 4, smax, size=cols_used)
    scale[0] = smax if cols_used > 1 else scale[0]     # extremes of the scale register
    if cols_used > 2:
        scale[1] = -smax - 1
    typical = float(np.abs(acc).mean() + 1) * smax / 2
    top = (1 << fmt.b_in) if not last else (1 << (fmt.out_bits - 1))
    shift = int(np.clip(np.ceil(np.log2(typical / top)), 0, fmt.shift_max))
    bmax = signed_range(fmt.bias_bits)[1]
    bias = rng.integers(-(1 << shift) * top // 4, (1 << shift) * top // 4 + 1, size=cols_used)
    bias = np.clip(bias, -bmax - 1, bmax)
    return Workload(rows=rows, columns=columns, columns_per_adc=columns_per_adc, acts_per_beat=acts_per_beat,
                    fmt=fmt, frac_bits=adc.frac_bits, i_fs=i_fs, adc_range=adc_range_code(i_fs),
                    rows_used=rows_used, cols_used=cols_used, x=x, currents=currents, scale=scale, bias=bias,
                    shift=shift, relu=relu, last=last, raw=raw,
                    meta=dict(tile=None, layer="random", seed=seed, time=t), encoding=encoding)
