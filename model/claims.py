"""The paper's headline figures checked against each other and against the twin's estimates.

Ref: docs/architecture.md §7. :func:`load_published` reads the claims, the battery and the comparison chips
(model/data/published.toml); :func:`check_claims` tests each headline figure against the others and against the
twin's evaluations at every corner of its bands (model/energy.py ``evaluate_bands``), computing every verdict from
its inputs (:class:`Claim`, :class:`Verdict`): a claim about the twin holds, holds except at the pessimistic end,
holds at the optimistic end only, or fails.
"""

import enum
from dataclasses import asdict, dataclass
from pathlib import Path

from neurophase.model.checks import check_nonnegative, check_positive, count_text
from neurophase.model.technology import Corner

__all__ = ["PUBLISHED_PATH", "load_published", "Verdict", "Claim", "check_claims"]

PUBLISHED_PATH = Path(__file__).resolve().parent / "data" / "published.toml"
SECONDS_PER_YEAR = 365.25 * 86400


def load_published(path=PUBLISHED_PATH):
    """The paper's claims, the battery and the comparison chips (model/data/published.toml)."""
    import tomllib
    with open(path, "rb") as f:
        return tomllib.load(f)


class Verdict(enum.Enum):
    """A claim checked over the twin's band (a paper-internal claim only holds or fails)."""
    HOLDS = "holds"
    NOT_PESSIMISTIC = "holds except at the pessimistic end"
    OPTIMISTIC_ONLY = "holds at the optimistic end only"
    FAILS = "fails"

    @classmethod
    def of(cls, passes):
        """The verdict of {Corner: bool}: where in the band the claim holds."""
        if all(passes.values()):
            return cls.HOLDS
        if passes[Corner.NOMINAL]:
            return cls.NOT_PESSIMISTIC
        return cls.OPTIMISTIC_ONLY if passes[Corner.LOW] else cls.FAILS


@dataclass(frozen=True)
class Claim:
    """One headline figure tested against the others: what was claimed, what the inputs imply (both in ``unit``; for
    a twin figure the nominal value and the band's ends ``low`` and ``high``), and the :class:`Verdict` within the
    relative tolerance (or the stated inequality). ``computed`` is None where the inputs give no figure (a frame
    rate on one chip for a network that does not fit on one); ``detail`` then says why."""
    name: str
    claimed: float
    computed: float
    unit: str
    verdict: Verdict
    detail: str
    low: float = None
    high: float = None

    @property
    def holds(self):
        return self.verdict is Verdict.HOLDS

    def as_dict(self):
        return {**asdict(self), "verdict": self.verdict.value}


def _point(name, claimed, computed, unit, holds, detail):
    return Claim(name, claimed, computed, unit, Verdict.HOLDS if holds else Verdict.FAILS, detail)


def _banded(name, claimed, unit, bands, figure, passes, detail):
    """A claim about the twin: ``figure`` of each corner's evaluation in ``bands``, ``passes(value)`` per corner."""
    values = {c: figure(ev) for c, ev in bands.items()}
    return Claim(name, claimed, values[Corner.NOMINAL], unit, Verdict.of({c: passes(v) for c, v in values.items()}),
                 detail, min(values.values()), max(values.values()))


def _close(a, b, rel_tol):
    return abs(a - b) <= rel_tol * abs(b)


def check_claims(paper, battery, chips, *, ops_per_frame, weights, devices_per_weight=2, devices_per_tile=65536,
                 twins=(), rel_tol=0.10):
    """Test the paper's headline figures against each other and against each of ``twins`` (one {Corner: Evaluation}
    per input encoding, model/energy.py ``evaluate_bands``).

    ``paper``: tops_per_w, digital_advantage, power_w, frames_per_s, battery_years, tiles, devices.
    ``battery``: capacity_ah, voltage_v. ``chips``: [{name, kind, tops_per_w}]. Two figures agree when within
    ``rel_tol`` of each other. Returns a list of :class:`Claim`.
    """
    rel_tol = check_nonnegative("rel_tol", rel_tol)
    ops_per_frame = check_positive("ops_per_frame", ops_per_frame)
    fps, power, tpw = paper["frames_per_s"], paper["power_w"], paper["tops_per_w"]
    claims = []

    implied = fps * ops_per_frame / power / 1e12
    claims.append(_point(
        "TOPS/W from frames/s x ops/frame / power", tpw, implied, "TOPS/W", _close(implied, tpw, rel_tol),
        f"{fps:g} fps x {ops_per_frame / 1e9:.3g} G ops / {power * 1e3:g} mW = {implied:.1f} TOPS/W; at {tpw:g} "
        f"TOPS/W, {power * 1e3:g} mW gives {tpw * 1e12 * power / ops_per_frame:.1f} fps and {fps:g} fps needs "
        f"{fps * ops_per_frame / (tpw * 1e12) * 1e3:.1f} mW"))

    on_chip = paper["tiles"] * devices_per_tile
    claims.append(_point(
        "devices = tiles x 256 x 256", paper["devices"], on_chip, "devices", _close(on_chip, paper["devices"], rel_tol),
        f"{paper['tiles']} tiles x {devices_per_tile} devices = {on_chip / 1e6:.2f} M"))

    needed = weights * devices_per_weight
    claims.append(_point(
        "ResNet-50 fits on the chip (devices on chip vs needed)", on_chip, needed, "devices", needed <= on_chip,
        f"{weights / 1e6:.2f} M weights x {devices_per_weight} devices = {needed / 1e6:.1f} M devices needed, "
        f"{on_chip / 1e6:.2f} M on chip ({needed / on_chip:.1f}x too few)" if needed > on_chip else
        f"{needed / 1e6:.1f} M devices needed, {on_chip / 1e6:.2f} M on chip"))

    energy_j = battery["capacity_ah"] * battery["voltage_v"] * 3600
    life_years = energy_j / power / SECONDS_PER_YEAR
    year_power = energy_j / (paper["battery_years"] * SECONDS_PER_YEAR)
    claims.append(_point(
        f"{battery['name']} lasts {paper['battery_years']:g} year at the claimed power", paper["battery_years"],
        life_years, "year", life_years >= paper["battery_years"],
        f"{battery['capacity_ah'] * 1e3:g} mAh x {battery['voltage_v']:g} V = {energy_j / 3600:.3f} Wh "
        f"({energy_j:.0f} J); at {power * 1e3:g} mW it lasts {life_years * 365.25:.1f} days; a year needs an average "
        f"{year_power * 1e6:.0f} uW, i.e. {fps * year_power / power:.2f} fps at the claimed energy per frame "
        f"(assumes the full nominal capacity is usable, no self-discharge, the chip alone)"))

    baseline = tpw / paper["digital_advantage"]
    digital = [c for c in chips if c["kind"] == "digital"]
    ratios = {c["name"]: tpw / c["tops_per_w"] for c in digital}
    matching = [n for n, r in ratios.items() if _close(r, paper["digital_advantage"], rel_tol)]
    best = min(ratios.items(), key=lambda kv: abs(kv[1] - paper["digital_advantage"]))
    claims.append(_point(
        f"{paper['digital_advantage']:g}x a digital accelerator", paper["digital_advantage"], best[1], "x",
        bool(matching),
        f"{tpw:g} / {paper['digital_advantage']:g} = {baseline:.3f} TOPS/W baseline; against the listed digital "
        "accelerators the advantage is " + ", ".join(f"{r:.1f}x ({n})" for n, r in ratios.items())))

    for bands in twins:
        nom = bands[Corner.NOMINAL]
        label = nom.encoding.label
        tpw_band = [bands[c].tops_per_w for c in (Corner.HIGH, Corner.NOMINAL, Corner.LOW)]
        claims.append(_banded(
            f"TOPS/W on ResNet-50 within the twin's estimate ({label})", tpw, "TOPS/W", bands,
            lambda ev: ev.tops_per_w, lambda v: v >= tpw * (1 - rel_tol),
            f"twin: {nom.ops / 1e9:.2f} G ops / {nom.energy_j * 1e6:.1f} uJ per image = {nom.tops_per_w:.1f} TOPS/W "
            f"nominal, {tpw_band[0]:.1f}..{tpw_band[2]:.1f} over the band (leakage over the image's latency "
            f"included)"))
        p_band = [bands[c].power_w(fps) for c in (Corner.LOW, Corner.NOMINAL, Corner.HIGH)]
        claims.append(_banded(
            f"power at {fps:g} fps within the twin's estimate ({label})", power, "W", bands,
            lambda ev: ev.power_w(fps), lambda v: v <= power * (1 + rel_tol),
            f"twin: {nom.dynamic_energy_j * 1e6:.1f} uJ/image x {fps:g} fps + {nom.leakage_w * 1e3:.2f} mW leakage "
            f"= {p_band[1] * 1e3:.1f} mW nominal, {p_band[0] * 1e3:.1f}..{p_band[2] * 1e3:.1f} mW over the band"))
        claims.append(_point(
            f"{fps:g} frames/s on one chip ({label})", fps, nom.fps_pipelined if nom.fits else None, "fps",
            nom.fits and nom.fps_pipelined >= fps * (1 - rel_tol),
            f"one chip holds {nom.tiles_available} of the {nom.tiles_needed} tiles ResNet-50 needs, so it runs "
            f"only with {count_text(nom.chips_needed, 'chip')} (or reprogramming passes, each rewriting every "
            f"device); {count_text(nom.chips_needed, 'chip')} pipelined reach {nom.fps_pipelined:.0f} fps, "
            f"{nom.fps_sequential:.0f} fps with layers in sequence" if not nom.fits else
            f"twin: slowest layer sets {nom.fps_pipelined:.0f} fps pipelined, {nom.fps_sequential:.0f} fps with "
            f"layers in sequence"))
    return claims
