"""srgan: super-resolve and denoise photos with SRGAN."""

__version__ = "0.1.0"
