"""Where the benchmark finds what is not inside the package: the shared folder and the source checkout.

The shared folder (``../shared`` beside a checkout) holds the benchmark sets (``data/benchmark``), the
cat photos (``data/cats``) and other projects' models (``peers``); it is never copied into the
repository. The source checkout holds ``configs/cats_val.txt`` and ``examples/chelsea.png``, which an
installed package lacks. Every default for these lives here, so ``srgan evaluate``, ``srgan report``
and the tests agree on one rule; callers pass an explicit folder to override it.
"""

from __future__ import annotations

import os
from pathlib import Path


def source_checkout() -> Path | None:
    """The repository ``srgan`` is imported from when that is a source checkout (src layout), else None."""
    import srgan

    package = Path(srgan.__file__).resolve().parent
    root = package.parents[1]
    if package.parent.name == "src" and (root / "pyproject.toml").is_file():
        return root
    return None


def checkout_dir() -> Path:
    """The source checkout, or the working directory for an installed package run from a clone."""
    return source_checkout() or Path.cwd()


def shared_dir(override: str | Path | None = None) -> Path:
    """``--shared DIR``, else ``../shared`` beside the working directory, else beside the source checkout.

    The working directory comes first because that is where a user types ``srgan report``; the
    checkout's is the fallback for runs from elsewhere (a subfolder, a test runner). When neither
    exists the working directory's is returned, so error messages name the place a user expects.
    """
    if override:
        return Path(override)
    beside_cwd = Path.cwd().parent / "shared"
    checkout = source_checkout()
    for candidate in (beside_cwd, checkout.parent / "shared" if checkout else None):
        if candidate is not None and candidate.is_dir():
            return candidate
    return beside_cwd


def peers_dir(override: str | Path | None = None, shared: str | Path | None = None) -> Path:
    """``--peers DIR``, else ``$SRGAN_PEERS_DIR``, else ``peers`` in :func:`shared_dir` (``shared`` overriding it)."""
    if override:
        return Path(override)
    if os.environ.get("SRGAN_PEERS_DIR"):
        return Path(os.environ["SRGAN_PEERS_DIR"])
    return shared_dir(shared) / "peers"
