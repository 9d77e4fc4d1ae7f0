"""The models a server offers: their cards for the page, and the loaded models, loaded once.

Models named on the command line (names or paths) are loaded when the server starts, so a typo fails
before the URL is printed. Without a list the server offers every shipped model, and loads each the
first time it is asked for: most sessions use one model, and each costs memory and a second or two.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from srgan.errors import SrganError

UPSCALER_KINDS = ("srgan", "srresnet")  # the preferred default first
DENOISER_KINDS = ("denoiser",)

Loader = Callable[[str], Any]


def default_loader(name_or_path: str) -> Any:
    """``srgan.load`` with automatic device and precision."""
    import srgan

    return srgan.load(name_or_path)


class UnknownModel(Exception):
    """A model name this server does not offer, or one of the wrong kind for the task."""


class Catalog:
    """Model cards by name, and the models themselves, loaded on first use and then kept."""

    def __init__(self, models: Sequence[str] | None = None, loader: Loader | None = None) -> None:
        self._loader = loader or default_loader
        self._cards: dict[str, dict] = {}
        self._sources: dict[str, str] = {}  # name → what to hand the loader
        self._loaded: dict[str, Any] = {}
        if models is None:
            import srgan

            for card in srgan.available_models():
                self._cards[card["name"]] = dict(card)
                self._sources[card["name"]] = card["name"]
            return
        for spec in models:
            model = self._loader(spec)
            if model.name in self._cards:
                raise SrganError(f"two models are both named {model.name!r}; rename one of the files")
            self._cards[model.name] = card_of(model)
            self._sources[model.name] = spec
            self._loaded[model.name] = model

    def cards(self) -> list[dict]:
        return list(self._cards.values())

    def card(self, name: str) -> dict:
        return self._cards[name]

    def names(self, kinds: Sequence[str]) -> list[str]:
        """Names of the models of these kinds, in the order of ``kinds``, then as listed."""
        return [n for kind in kinds for n, card in self._cards.items() if card.get("kind") == kind]

    def pick(self, name: str | None, kinds: Sequence[str], role: str) -> str:
        """The requested model name, checked against ``kinds``; the first of those kinds if None."""
        offered = self.names(kinds)
        if name is None:
            if not offered:
                raise UnknownModel(f"this server offers no {role} model")
            return offered[0]
        if name not in offered:
            choices = ", ".join(offered) or "none"
            if name in self._cards:
                raise UnknownModel(f"model {name!r} is a {self._cards[name].get('kind')}, not a {role} (choose from: {choices})")
            raise UnknownModel(f"unknown model {name!r} (choose a {role} from: {choices})")
        return name

    def get(self, name: str) -> Any:
        """The loaded model (loads it on first use; call from the worker, as loading is slow)."""
        if name not in self._loaded:
            self._loaded[name] = self._loader(self._sources[name])
        return self._loaded[name]


def card_of(model: Any) -> dict:
    """The model's card, with the name, kind and scale the page needs always present."""
    card = dict(getattr(model, "card", None) or {})
    card["name"] = model.name
    card["kind"] = model.kind
    card["scale"] = model.scale
    return card
