"""model: the numpy golden model of the NeuroPhase chip, in SI units (docs/architecture.md §1-§4).

PCM devices (``device``), a programmed crossbar tile and its bit-serial or PWM MVM (``tile``: ``CrossbarTile``), the
SAR ADC (``adc``), the periphery's exact integer arithmetic (``arith``), the reference network and its training
(``network``, ``train``), the mapper, the chip model with its host compiler and golden executor (``chip``, ``host``,
``executor``), the drift remedies and study, and the energy model with the paper's claims check. The README's
"Python quick start" programs a tile and runs an MVM.
"""
