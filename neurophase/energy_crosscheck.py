"""Cross-check of the twin's energy model against DNN+NeuroSim: VGG-8 (CIFAR-10) and ResNet-18 (ImageNet).

Ref: docs/energy_crosscheck.md. The twin evaluates both networks (model/benchmarks.py) in its own configuration
(256 x 256 PCM tiles, differential pairs, an 8-bit SAR ADC per column, 8-bit bit-serial inputs, 28 nm) with the
same assumed activations as ResNet-50. NeuroSim's published VGG-8 run (model/data/neurosim.toml: 22 nm RRAM,
128 x 128 sub-arrays, one-bit cells, 4-bit ADCs shared by 8 columns, 8-bit bit-serial inputs) is set beside it per
component and per event (energy per ADC conversion, with NeuroSim's conversions counted in its own mapping). No
published NeuroSim ResNet-18 energy was found; for it the table projects NeuroSim's VGG-8 per-event energies (per
conversion for the ADC, per operation for the rest) onto ResNet-18, labelled as a projection.
"""

from neurophase.model.benchmarks import resnet18_layers, vgg8_layers
from neurophase.model.energy import band_of
from neurophase.model.interface import InputEncoding
from neurophase.model.neurosim import load_neurosim, neurosim_conversions
from neurophase.model.technology import Corner

__all__ = ["crosscheck", "crosscheck_markdown", "GROUPS"]

# Twin components summed into NeuroSim's published categories; why they differ is in docs/energy_crosscheck.md.
GROUPS = {
    "ADC": ("adc",),
    "accumulation (shift-and-add, adders)": ("shift_add", "partial_sum_add"),
    "array, wordlines, BN and other periphery": ("pcm_read", "wordline_drivers", "bn", "register_file"),
    "buffer": ("buffer",),
    "interconnect": ("router",),
    "leakage": ("leakage",),
}


def _neurosim_groups(ns):
    """NeuroSim's published VGG-8 energies (uJ) in :data:`GROUPS`' categories: its 'other' holds the buffer and the
    interconnect, which it also reports alone, so they are taken out of it."""
    return {"ADC": ns["adc_pj"] * 1e-6, "accumulation (shift-and-add, adders)": ns["accumulation_pj"] * 1e-6,
            "array, wordlines, BN and other periphery": (ns["other_pj"] - ns["buffer_pj"] - ns["interconnect_pj"])
            * 1e-6,
            "buffer": ns["buffer_pj"] * 1e-6, "interconnect": ns["interconnect_pj"] * 1e-6,
            "leakage": ns["leakage_pj"] * 1e-6}


def _twin(layers, tech, cycle_model):
    from neurophase.energy import network_evaluations
    from neurophase.model.mapper import ChipGeometry
    # VGG-8's fc1 (fan-in 8,192) needs a reduction group of 32 tiles, more than the chip's reducer adds (18): it is
    # priced as if one reducer added a group of any size (docs/energy_crosscheck.md).
    bands = network_evaluations(layers, tech, cycle_model=cycle_model,
                                max_group=ChipGeometry().tiles)[InputEncoding.BIT_SERIAL]
    groups = {g: band_of(bands, lambda e, c=comps: sum(e.energy[k] for k in c) * 1e6).__dict__
              for g, comps in GROUPS.items()}
    nom = bands[Corner.NOMINAL]
    return {"groups_uj": groups, "total_uj": band_of(bands, lambda e: e.energy_j * 1e6).__dict__,
            "tops_per_w": band_of(bands, lambda e: e.tops_per_w).__dict__, "conversions": nom.events.adc_conversions,
            "adc_pj_per_conversion": band_of(bands, lambda e: e.energy["adc"] / e.events.adc_conversions * 1e12
                                             ).__dict__,
            "ops": nom.ops}


def crosscheck(tech, *, cycle_model):
    """{network: figures} of the twin beside NeuroSim (see the module docstring)."""
    data = load_neurosim()
    ns = data["vgg8"]
    mapping = dict(subarray_rows=ns["subarray_rows"], cells_per_weight=ns["cells_per_weight"],
                   input_bits=ns["input_bits"])
    vgg_conv = neurosim_conversions(vgg8_layers(), **mapping)
    per_conv_pj = ns["adc_pj"] / vgg_conv
    groups = _neurosim_groups(ns)
    total = (ns["dynamic_pj"] + ns["leakage_pj"]) * 1e-6
    out = {"vgg8": {"twin": _twin(vgg8_layers(), tech, cycle_model),
                    "neurosim": {"source": ns["source"], "groups_uj": groups, "total_uj": total,
                                 "tops_per_w_raw": ns["ops"] / (total * 1e6), "tops_per_w_published": ns["tops_per_w"],
                                 "conversions": vgg_conv, "adc_pj_per_conversion": per_conv_pj, "ops": ns["ops"],
                                 "kind": "published"}}}
    r18 = resnet18_layers()
    r18_twin = _twin(r18, tech, cycle_model)
    scale = r18_twin["ops"] / ns["ops"]
    r18_conv = neurosim_conversions(r18, **mapping)
    projected = {g: (r18_conv * per_conv_pj * 1e-6 if g == "ADC" else v * scale) for g, v in groups.items()}
    r18_total = sum(projected.values())
    out["resnet18"] = {"twin": r18_twin,
                       "neurosim": {"source": f"projection of {ns['source']} (per conversion for the ADC, per "
                                              f"operation otherwise)", "groups_uj": projected, "total_uj": r18_total,
                                    "tops_per_w_raw": r18_twin["ops"] / (r18_total * 1e6),
                                    "conversions": r18_conv, "adc_pj_per_conversion": per_conv_pj,
                                    "ops": r18_twin["ops"], "kind": "projection"}}
    return out


def _band(b, fmt=".3g"):
    return f"{format(b['nominal'], fmt)} ({format(b['low'], fmt)}..{format(b['high'], fmt)})"


def crosscheck_markdown(checks):
    """The cross-check as markdown tables, one per network."""
    titles = {"vgg8": "VGG-8, CIFAR-10 (uJ per image)", "resnet18": "ResNet-18, ImageNet 224x224 (uJ per image)"}
    lines = []
    for net, c in checks.items():
        ns, tw = c["neurosim"], c["twin"]
        head = "NeuroSim V1.4 (22 nm RRAM), published" if ns["kind"] == "published" else \
            "NeuroSim V1.4 per-event energies, projected"
        lines += [f"**{titles[net]}**", "", f"| component | {head} | twin (28 nm PCM), nominal (low..high) |",
                  "|---|---|---|"]
        lines += [f"| {g} | {ns['groups_uj'][g]:.3g} | {_band(tw['groups_uj'][g])} |" for g in GROUPS]
        lines += [f"| total | {ns['total_uj']:.3g} | {_band(tw['total_uj'])} |",
                  f"| TOPS/W | {ns['tops_per_w_raw']:.3g}"
                  + (f" ({ns['tops_per_w_published']:.3g} after NeuroSim's post-layout factor)"
                     if "tops_per_w_published" in ns else "") + f" | {_band(tw['tops_per_w'])} |",
                  f"| ADC conversions per image | {ns['conversions']:,} (4-bit) | {tw['conversions']:,} (8-bit) |",
                  f"| energy per conversion (pJ) | {ns['adc_pj_per_conversion']:.3g} | "
                  f"{_band(tw['adc_pj_per_conversion'])} |", ""]
    return "\n".join(lines)
