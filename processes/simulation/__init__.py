"""What-if simulation: the real models and policies in memory on a virtual clock,
driven by a discrete-event kernel (SimPy) from a scenario (``docs/simulation.md``)."""
