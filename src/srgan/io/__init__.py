"""Pictures in and out: reading images as users have them (paths or bytes), writing them atomically,
a streaming 16-bit PNG codec, file listing, and file-backed arrays for outputs too big for memory.

Import the submodules directly; nothing is imported here so that ``srgan.io`` costs nothing.
"""
