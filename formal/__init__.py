"""Formal properties of the RTL periphery, a mirror of rtl/: one file per block with a wrapper that instantiates the
block, states its properties as Amaranth ``Assert``/``Assume`` beside a reference model, and the deliberately broken
variants (mutants) that must fail them. formal/sby.py runs SymbiYosys from pip packages alone (docs/formal.md)."""
