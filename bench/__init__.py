"""Benchmarks: one module per area (``bench/<area>.py`` with ``main(argv)``), run by ``python -m bench``."""
