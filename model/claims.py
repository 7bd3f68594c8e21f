"""The paper's headline figures checked against each other and against the twin's estimates.

Ref: docs/architecture.md §7. :func:`load_published` reads the claims, the battery and the comparison chips
(model/data/published.toml); :func:`check_claims` tests each headline figure against the others and against the
twin's evaluations (model/energy.py ``Evaluation``), computing every verdict from its inputs (:class:`Claim`).
"""

from dataclasses import asdict, dataclass
from pathlib import Path

from neurophase.model.checks import check_nonnegative, check_positive

__all__ = ["PUBLISHED_PATH", "load_published", "Claim", "check_claims"]

PUBLISHED_PATH = Path(__file__).resolve().parent / "data" / "published.toml"
SECONDS_PER_YEAR = 365.25 * 86400


def load_published(path=PUBLISHED_PATH):
    """The paper's claims, the battery and the comparison chips (model/data/published.toml)."""
    import tomllib
    with open(path, "rb") as f:
        return tomllib.load(f)


@dataclass(frozen=True)
class Claim:
    """One headline figure tested against the others: what was claimed, what the inputs imply (both in ``unit``), and
    whether it holds within the relative tolerance (or the stated inequality)."""
    name: str
    claimed: float
    computed: float
    unit: str
    holds: bool
    detail: str

    def as_dict(self):
        return asdict(self)


def _close(a, b, rel_tol):
    return abs(a - b) <= rel_tol * abs(b)


def check_claims(paper, battery, chips, *, ops_per_frame, weights, devices_per_weight=2, devices_per_tile=65536,
                 twins=(), rel_tol=0.10):
    """Test the paper's headline figures against each other and against each of ``twins`` (model/energy.py
    ``Evaluation``).

    ``paper``: tops_per_w, digital_advantage, power_w, frames_per_s, battery_years, tiles, devices.
    ``battery``: capacity_ah, voltage_v. ``chips``: [{name, kind, tops_per_w}]. Two figures agree when within
    ``rel_tol`` of each other. Returns a list of :class:`Claim`.
    """
    rel_tol = check_nonnegative("rel_tol", rel_tol)
    ops_per_frame = check_positive("ops_per_frame", ops_per_frame)
    fps, power, tpw = paper["frames_per_s"], paper["power_w"], paper["tops_per_w"]
    claims = []

    implied = fps * ops_per_frame / power / 1e12
    claims.append(Claim(
        "TOPS/W from frames/s x ops/frame / power", tpw, implied, "TOPS/W", _close(implied, tpw, rel_tol),
        f"{fps:g} fps x {ops_per_frame / 1e9:.3g} G ops / {power * 1e3:g} mW = {implied:.1f} TOPS/W; at {tpw:g} "
        f"TOPS/W, {power * 1e3:g} mW gives {tpw * 1e12 * power / ops_per_frame:.1f} fps and {fps:g} fps needs "
        f"{fps * ops_per_frame / (tpw * 1e12) * 1e3:.1f} mW"))

    on_chip = paper["tiles"] * devices_per_tile
    claims.append(Claim(
        "devices = tiles x 256 x 256", paper["devices"], on_chip, "devices", _close(on_chip, paper["devices"], rel_tol),
        f"{paper['tiles']} tiles x {devices_per_tile} devices = {on_chip / 1e6:.2f} M"))

    needed = weights * devices_per_weight
    claims.append(Claim(
        "ResNet-50 fits on the chip (devices on chip vs needed)", on_chip, needed, "devices", needed <= on_chip,
        f"{weights / 1e6:.2f} M weights x {devices_per_weight} devices = {needed / 1e6:.1f} M devices needed, "
        f"{on_chip / 1e6:.2f} M on chip ({needed / on_chip:.1f}x too few)" if needed > on_chip else
        f"{needed / 1e6:.1f} M devices needed, {on_chip / 1e6:.2f} M on chip"))

    energy_j = battery["capacity_ah"] * battery["voltage_v"] * 3600
    life_years = energy_j / power / SECONDS_PER_YEAR
    year_power = energy_j / (paper["battery_years"] * SECONDS_PER_YEAR)
    claims.append(Claim(
        f"{battery['name']} lasts {paper['battery_years']:g} year at the claimed power", paper["battery_years"],
        life_years, "years", life_years >= paper["battery_years"],
        f"{battery['capacity_ah'] * 1e3:g} mAh x {battery['voltage_v']:g} V = {energy_j / 3600:.3f} Wh "
        f"({energy_j:.0f} J); at {power * 1e3:g} mW it lasts {life_years * 365.25:.1f} days; a year needs an average "
        f"{year_power * 1e6:.0f} uW, i.e. {fps * year_power / power:.2f} fps at the claimed energy per frame "
        f"(assumes the full nominal capacity is usable, no self-discharge, the chip alone)"))

    baseline = tpw / paper["digital_advantage"]
    digital = [c for c in chips if c["kind"] == "digital"]
    ratios = {c["name"]: tpw / c["tops_per_w"] for c in digital}
    matching = [n for n, r in ratios.items() if _close(r, paper["digital_advantage"], rel_tol)]
    best = min(ratios.items(), key=lambda kv: abs(kv[1] - paper["digital_advantage"]))
    claims.append(Claim(
        f"{paper['digital_advantage']:g}x a digital accelerator", paper["digital_advantage"], best[1], "x",
        bool(matching),
        f"{tpw:g} / {paper['digital_advantage']:g} = {baseline:.3f} TOPS/W baseline; against the listed digital "
        "accelerators the advantage is " + ", ".join(f"{r:.1f}x ({n})" for n, r in ratios.items())))

    for twin in twins:
        # The twin prices dynamic energy only, so its TOPS/W is an upper bound: a claim holds if within its reach.
        claims.append(Claim(
            f"TOPS/W on ResNet-50 within the twin's estimate ({twin.encoding.label})", tpw, twin.tops_per_w, "TOPS/W",
            twin.tops_per_w >= tpw * (1 - rel_tol),
            f"twin: {twin.ops / 1e9:.2f} G ops / {twin.energy_j * 1e6:.1f} uJ per image = "
            f"{twin.tops_per_w:.1f} TOPS/W (dynamic energy only)"))
        p_twin = twin.power_w(fps)
        claims.append(Claim(
            f"power at {fps:g} fps within the twin's estimate ({twin.encoding.label})", power, p_twin, "W",
            p_twin <= power * (1 + rel_tol),
            f"twin: {twin.energy_j * 1e6:.1f} uJ/image x {fps:g} fps = {p_twin * 1e3:.1f} mW"))
        claims.append(Claim(
            f"{fps:g} frames/s on one chip ({twin.encoding.label})", fps, twin.fps_pipelined if twin.fits else 0.0,
            "fps",
            twin.fits and twin.fps_pipelined >= fps * (1 - rel_tol),
            f"one chip holds {twin.tiles_available} of the {twin.tiles_needed} tiles ResNet-50 needs, so it runs "
            f"only with {twin.chips_needed} chips (or reprogramming passes, each rewriting every device); "
            f"{twin.chips_needed} chips pipelined reach {twin.fps_pipelined:.0f} fps, "
            f"{twin.fps_sequential:.0f} fps with layers in sequence" if not twin.fits else
            f"twin: slowest layer sets {twin.fps_pipelined:.0f} fps pipelined, {twin.fps_sequential:.0f} fps with "
            f"layers in sequence"))
    return claims
