"""Plots of `neurophase energy`: energy per image by component with its band, and TOPS/W against published chips."""

from neurophase.model.energy import COMPONENTS, band_of
from neurophase.model.technology import Corner

__all__ = ["plot_breakdown", "plot_comparison"]


def _pyplot():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


SMALL = 0.01      # components under this share of every bar are drawn together as "other"


def plot_breakdown(bands, path, network="ResNet-50"):
    """Stacked bars of the nominal energy per image by component, one bar per input encoding, with the band of the
    total (optimistic .. pessimistic corner) as a whisker. The legend gives each component's share of each bar;
    components under 1% of every bar are drawn as one "other" segment that the legend lists.
    ``bands``: {encoding: {Corner: Evaluation}}."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8.4, 4.2))
    colours = plt.get_cmap("tab10").colors
    names = list(bands)
    nominal = {enc: bands[enc][Corner.NOMINAL] for enc in names}
    share = {comp: {enc: ev.energy[comp] / ev.energy_j for enc, ev in nominal.items()} for comp in COMPONENTS}
    shown = [comp for comp in COMPONENTS if max(share[comp].values()) >= SMALL]
    other = [comp for comp in COMPONENTS if comp not in shown]
    top = max(e.energy_j for b in bands.values() for e in b.values()) * 1e6
    for i, enc in enumerate(names):
        ev = nominal[enc]
        total, left = ev.energy_j * 1e6, 0.0
        parts = [(comp, ev.energy[comp] * 1e6, colours[c]) for c, comp in enumerate(shown)]
        parts.append(("other", sum(ev.energy[comp] for comp in other) * 1e6, "0.75"))
        for comp, v, colour in parts:
            label = None
            if i == 0 and (comp != "other" or other):
                label = (comp.replace("_", " ") if comp != "other" else "other") + ": " + ", ".join(
                    f"{100 * (share[comp][e] if comp != 'other' else sum(share[o][e] for o in other)):.0f}% "
                    f"{e.label}" for e in names)
            ax.barh(i, v, left=left, color=colour, label=label)
            left += v
        e_band = band_of(bands[enc], lambda e: e.energy_j * 1e6)
        t_band = band_of(bands[enc], lambda e: e.tops_per_w)
        ax.errorbar(total, i + 0.32, xerr=[[total - e_band.low], [e_band.high - total]], fmt="none", ecolor="black",
                    capsize=4, lw=1)
        ax.text(e_band.high + top * 0.01, i, f"{total:.0f} uJ ({e_band.low:.0f}..{e_band.high:.0f})\n"
                f"{t_band.nominal:.1f} TOPS/W ({t_band.low:.1f}..{t_band.high:.1f})", va="center", fontsize=8)
    ax.set_yticks(range(len(names)), [f"{n.label}\ninputs" for n in names])
    ax.set_xlabel(f"energy per {network} image (uJ): nominal by component, whisker = low..high band")
    ax.set_xlim(0, top * 1.3)
    ax.set_title(f"NeuroPhase twin: {network} energy per image by component (28 nm)")
    ax.legend(ncol=3, fontsize=7.5, loc="upper center", bbox_to_anchor=(0.5, -0.2), frameon=False,
              title="share of each bar" + (f"; other = {', '.join(o.replace('_', ' ') for o in other)} "
                                           f"(each under {100 * SMALL:.0f}%)" if other else ""),
              title_fontsize=7.5)
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return path


def plot_comparison(paper, chips, bands, implied_tops_per_w, path):
    """Figure 1 style: TOPS/W of NeuroPhase as claimed, as its own figures imply, as the twin estimates (nominal bar,
    band as error bar) and published chips (log scale)."""
    plt = _pyplot()
    bars = [("NeuroPhase (claimed)", paper["tops_per_w"], None, "#d62728"),
            (f"NeuroPhase: {paper['frames_per_s']:g} fps x ops / {paper['power_w'] * 1e3:g} mW", implied_tops_per_w,
             None, "#ff9896")]
    bars += [(f"NeuroPhase twin ({enc.label})", b.nominal, b, "#2ca02c")
             for enc, b in ((enc, band_of(ev, lambda e: e.tops_per_w)) for enc, ev in bands.items())]
    kind_colour = {"analog PCM": "#1f77b4", "digital": "#7f7f7f"}
    bars += [(c["name"], c["tops_per_w"], None, kind_colour.get(c["kind"], "#9467bd")) for c in chips]
    peak = {c["name"] for c in chips if c.get("figure") == "peak"}
    fig, ax = plt.subplots(figsize=(8, 5.0))
    for i, (name, v, band, colour) in enumerate(bars):
        ax.barh(i, v, color=colour, hatch="///" if name in peak else None, edgecolor="white")
        right = v
        if band is not None:
            ax.errorbar(v, i, xerr=[[v - band.low], [band.high - v]], fmt="none", ecolor="black", capsize=4, lw=1)
            right = band.high
        label = f"{v:.3g}" if band is None else f"{v:.3g} ({band.low:.3g}..{band.high:.3g})"
        ax.text(right * 1.08, i, label, va="center", fontsize=8)
    ax.set_yticks(range(len(bars)), [b[0] for b in bars], fontsize=8)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlim(0.05, max(b[2].high if b[2] else b[1] for b in bars) * 6)
    ax.set_xlabel("energy efficiency (TOPS/W, log scale; ops = 2 x MACs)")
    ax.set_title("Inference energy efficiency: paper, twin and published chips")
    from matplotlib.patches import Patch
    ax.legend(handles=[Patch(color="#d62728", label="NeuroPhase, claimed"),
                       Patch(color="#ff9896", label="NeuroPhase, from its own fps, ops and power"),
                       Patch(color="#2ca02c", label="twin estimate (error bar: band)"),
                       Patch(color=kind_colour["analog PCM"], label="analog PCM chips, measured"),
                       Patch(color=kind_colour["digital"], label="digital accelerators, measured"),
                       Patch(facecolor="#7f7f7f", hatch="///", edgecolor="white",
                             label="hatched: peak rating, not a measured workload")],
              fontsize=7, loc="lower right", framealpha=0.9)
    fig.text(0.01, 0.01, "twin: ResNet-50, 28 nm, leakage included; error bar = the band of sourced per-event "
             "energies. Peak ratings (vendor or paper) are not comparable with figures measured on a workload. "
             "NeuRRAM left out: docs/references.md gives no TOPS/W for it.", fontsize=6.5, color="#555555", wrap=True)
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return path
