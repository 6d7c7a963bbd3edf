"""Decorator registries by name, also filled from a Python entry-point group.

    from temporal_models import register_model

    @register_model("mymodel")
    def build(backbone, seq_len=8, **kwargs):
        return MyModel(backbone)

Outside packages make their models visible to ``benchmark run --model NAME``
without editing this repository by declaring, in their ``pyproject.toml``::

    [project.entry-points."ccreid.temporal_models"]
    mymodel = "my_package.models"          # a module whose import registers models
    # or: mymodel = "my_package.models:build"   # a factory, registered as "mymodel"

A model may also name the losses its own codebase trains it with
(``@register_model("tclnet", losses={"triplet_weight": 1.0, ...})``, or a
``loss_recipe`` dict attribute on an entry-point factory): config fields that
``benchmark run --set loss_recipe=model`` applies to runs of that model.
"""
from __future__ import annotations

import difflib
from importlib import metadata
from typing import Any, Callable, Dict, List, Optional, TypeVar

F = TypeVar("F", bound=Callable)

MODEL_ENTRY_POINT_GROUP = "ccreid.temporal_models"


class UnknownNameError(KeyError):
    """An unknown registry name; the message suggests close names."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it one plain line
        return str(self.args[0])


class Registry:
    def __init__(self, kind: str, entry_point_group: Optional[str] = None):
        self.kind = kind
        self.group = entry_point_group
        self._items: Dict[str, Callable] = {}
        self._losses: Dict[str, Dict[str, Any]] = {}
        self._plugins_loaded = False
        self.plugin_errors: Dict[str, str] = {}

    def register(self, name: Optional[str] = None, *, override: bool = False,
                 losses: Optional[Dict[str, Any]] = None) -> Callable[[F], F]:
        """``losses``: config fields of the model's own training recipe (see the module docstring)."""
        def deco(obj: F) -> F:
            key = name or obj.__name__
            if key in self._items and self._items[key] is not obj and not override:
                raise ValueError(f"{self.kind} {key!r} is already registered")
            self._items[key] = obj
            if losses is not None:
                self._losses[key] = dict(losses)
            return obj
        return deco

    def load_plugins(self) -> None:
        """Import every entry point of the group once; a broken plugin is recorded, not fatal."""
        if self._plugins_loaded or not self.group:
            return
        self._plugins_loaded = True
        for ep in metadata.entry_points(group=self.group):
            try:
                obj = ep.load()
            except Exception as e:  # a broken third-party plugin must not break the suite
                self.plugin_errors[ep.name] = f"{type(e).__name__}: {e}"
                continue
            if ep.name not in self._items and callable(obj):
                self._items[ep.name] = obj

    def names(self) -> List[str]:
        self.load_plugins()
        return sorted(self._items)

    def get(self, name: str) -> Callable:
        self.load_plugins()
        if name in self._items:
            return self._items[name]
        close = difflib.get_close_matches(name, self._items, n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else f"; known: {', '.join(sorted(self._items))}"
        if name in self.plugin_errors:
            hint = f"; its plugin failed to load ({self.plugin_errors[name]})"
        raise UnknownNameError(f"unknown {self.kind} {name!r}{hint}")

    def loss_recipe(self, name: str) -> Dict[str, Any]:
        """The config fields of ``name``'s own loss recipe ({} for models that have none)."""
        obj = self.get(name)
        return dict(self._losses.get(name, getattr(obj, "loss_recipe", None) or {}))

    def __contains__(self, name: str) -> bool:
        self.load_plugins()
        return name in self._items


MODELS = Registry("model", MODEL_ENTRY_POINT_GROUP)
BACKBONES = Registry("backbone")

register_model = MODELS.register
register_backbone = BACKBONES.register
