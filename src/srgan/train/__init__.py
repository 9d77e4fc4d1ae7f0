"""Training: ``config`` (the YAML schema), ``data`` (sources, in-memory store, seeded batches), ``losses``,
``loop`` (the trainer, validation, checkpoints, exact resume, DDP) and ``plot`` (curves).

``srgan train`` is the entry point; import the submodules directly (torch is needed by all of them).
"""
