"""Benchmarks for ganaug: speed (``speed.py``), sample quality (``quality.py``) and downstream gains (``gains.py``).

Each script is runnable as ``python benchmarks/<name>.py`` or ``python -m benchmarks.<name>`` from the repository
root and writes ``benchmarks/results/<name>.json`` and ``.md`` (``--smoke``: ``benchmarks/results/smoke/``).
"""
