"""The models a server offers: their cards for the page, and the loaded models, loaded once.

Models named on the command line (names or paths) are loaded when the server starts, so a typo fails
before the URL is printed. Without a list the server offers every shipped model and loads the default
upscaler at start-up (:meth:`Catalog.warm_up`, with the precision probe), the others the first time
they are asked for: most sessions use one model, and each costs memory and seconds to load.

The default upscaler is the one ``srgan info`` names (:func:`srgan.models.zoo.default_upscaler`, the one
rule) whenever it is offered; otherwise the first upscaler offered, in the order the models were named.
The default denoiser is the first denoiser offered.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from srgan.errors import SrganError
from srgan.models import zoo

UPSCALER_KINDS = ("srgan", "srresnet")
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
        # Read once: the page and the API agree on the default for as long as the server runs.
        self._rule = zoo.default_upscaler()
        if models is None:
            import srgan

            for card in srgan.available_models():
                self._cards[card["name"]] = {**card, "takes_sigma": zoo.card_takes_sigma(card)}
                self._sources[card["name"]] = card["name"]
                if not isinstance(card.get("scale"), int):
                    # The limits need every model's scale before it is loaded; a card without one is read
                    # off the weights instead (shipped cards all have it).
                    self._cards[card["name"]]["scale"] = _scale_of_weights(card["name"])
            return
        for spec in models:
            model = self._loader(spec)
            if model.name in self._cards:
                raise SrganError(f"two models are both named {model.name!r}; rename one of the files")
            self._cards[model.name] = card_of(model)
            self._sources[model.name] = spec
            self._loaded[model.name] = model

    def cards(self) -> list[dict]:
        """The cards in the order offered, each with ``default``: whether it runs when a request names none."""
        defaults = {self.default(UPSCALER_KINDS), self.default(DENOISER_KINDS)}
        return [{**card, "default": name in defaults} for name, card in self._cards.items()]

    def scale(self, name: str) -> int:
        """The model's scale (1 for a denoiser), known without loading it."""
        return int(self._cards[name]["scale"])

    def names(self, kinds: Sequence[str]) -> list[str]:
        """Names of the models of these kinds, in the order offered."""
        return [n for n, card in self._cards.items() if card.get("kind") in kinds]

    def default(self, kinds: Sequence[str]) -> str | None:
        """The model of these kinds that runs when a request names none (see the module's docstring)."""
        offered = self.names(kinds)
        if not offered:
            return None
        if set(kinds) & set(UPSCALER_KINDS) and self._rule in offered:
            return self._rule
        return offered[0]

    def pick(self, name: str | None, kinds: Sequence[str], role: str) -> str:
        """The requested model name, checked against ``kinds``; the default of those kinds if None."""
        offered = self.names(kinds)
        if name is None:
            if not offered:
                raise UnknownModel(f"this server offers no {role} model")
            return self.default(kinds)
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

    def loaded(self, name: str) -> bool:
        return name in self._loaded

    def warm_up(self) -> str | None:
        """Load the default upscaler now (``srgan.load`` also runs the precision probe), so the first request
        does not wait for it; the name, or None when no upscaler is offered. Call from the worker."""
        name = self.default(UPSCALER_KINDS)
        if name is not None:
            self.get(name)
        return name


def _scale_of_weights(name: str) -> int:
    state, _ = zoo.load_state(zoo.resolve(name))
    return zoo.describe(state).scale


def card_of(model: Any) -> dict:
    """The model's card, with the name, kind, scale and whether it is told σ (the page needs them) always present."""
    card = dict(getattr(model, "card", None) or {})
    card["name"] = model.name
    card["kind"] = model.kind
    card["scale"] = model.scale
    card["takes_sigma"] = bool(getattr(model, "takes_sigma", False))
    return card
