"""Pictures in and out: reading images as users have them (paths or bytes), writing them atomically,
a streaming 16-bit PNG codec, file listing, and file-backed arrays for outputs too big for memory.

- :mod:`srgan.io.picture`: the :class:`~srgan.io.picture.Picture` data model and array/Pillow conversions.
- :mod:`srgan.io.read`: files and uploaded bytes into Pictures.
- :mod:`srgan.io.write`: Pictures into files and bytes, by extension.
- :mod:`srgan.io.metadata`: EXIF orientation and ICC profiles kept true to the pixels.
- :mod:`srgan.io.png16`: the PNG codec for the 16-bit colour files Pillow cannot handle.
- :mod:`srgan.io.files`: atomic writes and the one rule for which files in a folder are images.
- :mod:`srgan.io.bigarray`: image-sized arrays that need not stay in RAM.

Import the submodules directly; nothing is imported here so that ``srgan.io`` costs nothing.
"""
