"""Benchmarking: ``evaluate`` (the field's protocol on benchmark folders), ``peers`` (other projects' SR
models, loaded offline for comparison), ``places`` (where the shared data, peers and source checkout are
found) and the report: ``report`` measures, ``figures`` draws and ``render`` writes docs/RESULTS.md.

Not needed to use the models; ``srgan evaluate`` and ``srgan report`` import it on demand.
"""
