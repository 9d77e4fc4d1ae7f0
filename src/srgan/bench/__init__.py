"""Benchmarking: ``evaluate`` (the field's protocol on benchmark folders), ``peers`` (other projects' SR
models, loaded offline for comparison) and ``report`` (docs/RESULTS.md from a source checkout).

Not needed to use the models; ``srgan evaluate`` and ``srgan report`` import it on demand.
"""
