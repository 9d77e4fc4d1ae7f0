"""The networks: SRResNet generator, SRGAN discriminator, perceptual feature extractors, denoiser.

Import the submodules directly (``from srgan.models.generator import Generator``); nothing is imported
here eagerly so that a missing optional dependency of one model never breaks the others.
"""
