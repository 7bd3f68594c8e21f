"""One tile MVM from a simulator's VCD trace (written by `neurophase sim --tile N --waves`), read and drawn.

The trace is read with pyvcd's tokenizer, only the harness's top-level signals named in :data:`SIGNALS`, and only
up to the end of the first MVM: from the first activation beat into the tile (``act__valid``) to the first output
vector captured by the harness (``cap_done``), so even a long run's trace is read in a moment.
"""

import io
from dataclasses import dataclass, field

__all__ = ["SIGNALS", "Trace", "read_first_mvm", "plot_mvm"]

# Top-level signals of the tile harness (tb/tile_harness.py) drawn, with the label shown.
SIGNALS = {
    "act__valid": "activation beat valid",
    "act__ready": "activation beat taken",
    "pulse": "read pulse",
    "wl": "wordlines driven (count)",
    "dac_code__0": "ADC 0 SAR DAC code",
    "comparator__0": "ADC 0 comparator",
    "done": "tile done",
    "out__valid": "output valid",
    "out__payload.data": "output value",
    "cap_done": "output vector captured",
}
SHOWN_AS_COUNT = {"wl"}           # wide buses drawn as the number of ones
SIGNED = {"out__payload.data"}    # two's complement (the last layer's logits are signed)
_NS = {"s": 1e9, "ms": 1e6, "us": 1e3, "ns": 1.0, "ps": 1e-3, "fs": 1e-6}


@dataclass
class Trace:
    """Value changes of the drawn signals: {name: [(time, value)]}, times in VCD ticks of ``tick_ns``."""
    changes: dict = field(default_factory=dict)
    start: int = 0
    end: int = 0
    tick_ns: float = 1.0
    clock_period: int = None


def _value(data, name, width):
    if not isinstance(data, int):
        text = str(data).lower()
        if not set(text) <= {"0", "1"}:
            return None                     # x or z: no value
        data = int(text, 2)
    if name in SHOWN_AS_COUNT:
        return bin(data).count("1")
    if name in SIGNED and data >> (width - 1):
        return data - (1 << width)
    return data


def read_first_mvm(path, scope="np_tile_harness", margin_cycles=4):
    """The :class:`Trace` of the first MVM in the VCD at ``path`` (ValueError when it holds none)."""
    from vcd.reader import TokenKind, tokenize
    ids, widths, trace, scopes = {}, {}, Trace(), []
    now, first_valid, clock_edges = 0, None, []
    with open(path, "rb") as f:
        for tok in tokenize(f):
            kind = tok.kind
            if kind is TokenKind.TIMESCALE:
                trace.tick_ns = tok.data.magnitude.value * _NS[tok.data.unit.value]
            elif kind is TokenKind.SCOPE:
                scopes.append(tok.data.ident)
            elif kind is TokenKind.UPSCOPE:
                scopes.pop()
            elif kind is TokenKind.VAR and scopes == [scope] and tok.data.reference in SIGNALS | {"clk": ""}:
                ids.setdefault(tok.data.id_code, tok.data.reference)
                widths[tok.data.reference] = tok.data.size
            elif kind is TokenKind.CHANGE_TIME:
                now = tok.data
                if trace.end and now > trace.end:
                    break
            elif kind in (TokenKind.CHANGE_SCALAR, TokenKind.CHANGE_VECTOR) and tok.data.id_code in ids:
                name = ids[tok.data.id_code]
                v = _value(tok.data.value, name, widths[name])
                if name == "clk":
                    if v == 1 and len(clock_edges) < 2:
                        clock_edges.append(now)
                    continue
                trace.changes.setdefault(name, []).append((now, v))
                if name == "act__valid" and v == 1 and first_valid is None:
                    first_valid = now
                if name == "cap_done" and v == 1 and first_valid is not None and not trace.end:
                    period = clock_edges[1] - clock_edges[0] if len(clock_edges) == 2 else 10
                    trace.clock_period = period
                    trace.start, trace.end = first_valid - margin_cycles * period, now + margin_cycles * period
    if not trace.end:
        raise ValueError(f"waveform {path} holds no complete MVM (no output vector captured after activations)")
    return trace


def margin(trace):
    """Cycles drawn before the first activation beat."""
    first = next(t for t, v in trace.changes["act__valid"] if v == 1)
    return round((first - trace.start) / (trace.clock_period or 1))


def plot_mvm(trace, title):
    """The trace as stacked step plots (PNG bytes): one row per signal, time in clock cycles from the first beat."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    names = [n for n in SIGNALS if n in trace.changes]
    fig, axes = plt.subplots(len(names), 1, figsize=(11, 0.55 * len(names) + 1.2), sharex=True)
    period = trace.clock_period or 1
    x0 = trace.start
    for ax, name in zip(axes, names):
        points = [(t, v) for t, v in trace.changes[name] if v is not None]
        before = [p for p in points if p[0] <= trace.start]
        inside = [p for p in points if trace.start < p[0] <= trace.end]
        pts = ([(trace.start, before[-1][1])] if before else []) + inside
        if not pts:
            pts = [(trace.start, 0)]
        xs = [(t - x0) / period for t, _ in pts] + [(trace.end - x0) / period]
        ys = [v for _, v in pts] + [pts[-1][1]]
        ax.step(xs, ys, where="post", lw=1.0, color="tab:blue")
        ax.set_ylabel(SIGNALS[name], rotation=0, ha="right", va="center", fontsize=8)
        ax.tick_params(axis="y", labelsize=7)
        ax.grid(axis="x", alpha=0.3)
        ax.spines[["top", "right"]].set_visible(False)
    axes[-1].set_xlabel(f"clock cycles ({period * trace.tick_ns:g} ns each) from {margin(trace)} cycles before the "
                        "first activation beat")
    axes[0].set_title(title, fontsize=10)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    return buf.getvalue()
