"""Array operations shared by every stage: MATLAB-compatible bicubic resizing, the degradation (HR → LR,
noise), pixel conversions (8/16-bit, luma) and the metrics (PSNR, SSIM, hf_ratio, NIQE).

NumPy and torch functions without state; import the submodules directly.
"""
