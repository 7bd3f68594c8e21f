"""Every proof and mutant of formal/, and a runner of them in parallel (``make formal``, tests/test_formal.py)."""

import importlib
from concurrent.futures import ThreadPoolExecutor

from neurophase.formal.sby import run_proof

__all__ = ["BLOCKS", "proofs", "mutants", "run_all"]

# The formal/ files, one per block of rtl/ with properties.
BLOCKS = ("cmd_decoder", "tile_ctrl", "out_queue", "bn_unit", "shift_add", "reducer", "clock_gate")


def _modules():
    return [importlib.import_module(f"neurophase.formal.{b}") for b in BLOCKS]


def proofs():
    """{proof name: Proof} of every block."""
    return {p.name: p for mod in _modules() for p in mod.PROOFS}


def mutants():
    """{"<proof>-<mutant>": Mutant} of every block."""
    return {f"{m.proof}-{m.name}": m for mod in _modules() for m in mod.MUTANTS.values()}


def run_all(names=None, *, with_mutants=False, jobs=2, work=None):
    """Run the proofs ``names`` (default: all), and with ``with_mutants`` every mutant of them, ``jobs`` at a time
    (each is its own SymbiYosys process); returns the :class:`~neurophase.formal.sby.ProofResult` list, proofs first,
    each list in order of the longest first."""
    table = proofs()
    chosen = [table[n] for n in (names or table)]
    runs = [(p, None) for p in chosen]
    if with_mutants:
        runs += [(table[m.proof], m) for m in mutants().values() if table[m.proof] in chosen]
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        return list(pool.map(lambda run: run_proof(run[0], mutant=run[1], work=work), runs))
