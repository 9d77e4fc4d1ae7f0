"""Training. ``config`` (the TrainConfig schema: YAML, flags, ``--set``), ``data`` (sources, in-memory store,
seeded batches), ``networks`` (building and starting the trained network), ``losses``, ``ema``, ``validate``
(validation and the best-step rule), ``checkpoint`` (saving and exact resume), ``card`` (the exported model's
card), ``loop`` (the trainer, DDP, ``train()``) and ``plot`` (curves).

``srgan train`` is the entry point; import the submodules directly (all but ``config`` need torch).
"""
