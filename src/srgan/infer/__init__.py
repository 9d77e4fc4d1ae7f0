"""Running trained models: ``model`` (load, tiling, restore), ``fast`` (BN folding, fused CPU kernels),
``int8`` (ONNX Runtime int8), ``autoprecision`` (the timed fp32/bf16 probe), ``batch`` (files in, files out)
and ``onnx`` (export).

``srgan.load`` / ``srgan.restore`` are the public entry points; import the submodules directly.
"""
