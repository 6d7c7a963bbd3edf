"""The small shared base that every package of the suite may use (it lives in the leftmost package).

- :class:`UserError`: the one base class of errors a user can fix (a bad option, file, line or
  value). Every command line catches it in one place and prints its message as one line, exit
  status 2, no traceback. Each package's own error (``DatasetError``, ``ConfigError``, ...)
  derives from it.
- :func:`did_you_mean`: the "; did you mean 'x'?" hint for a misspelt name.
- :class:`Registry`: names -> registered objects (models, backbones, datasets, objectives,
  optimisers, ...), filled by decorators and by a Python entry-point group, so that a plugin
  package adds entries without editing this repository.

Also shared from here: :func:`ccvid.files.write_atomically` (files written whole or not at all)
and :mod:`ccvid.progress` (the progress-bar switch).
"""
from __future__ import annotations

import difflib
from importlib import metadata
from typing import Any, Callable, Dict, Iterable, List, Optional, TypeVar

F = TypeVar("F")


class UserError(Exception):
    """An error the user can fix; its message is one line that names the option, file, line or value."""


def did_you_mean(word: Any, choices: Iterable[Any], n: int = 1) -> str:
    """``"; did you mean 'x'?"`` for the closest of ``choices`` to ``word`` (up to ``n``), or "" when none is close."""
    names = [str(c) for c in choices]
    close = difflib.get_close_matches(str(word), names, n=n)
    if not close and str(word).lower() != str(word):
        close = difflib.get_close_matches(str(word).lower(), names, n=n)
    return f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""


class UnknownNameError(UserError, KeyError):
    """An unknown registry name; the message suggests close names and lists the known ones."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it one plain line
        return str(self.args[0])


class Registry:
    """Registered objects by name, with the keyword ``info`` each was registered with.

    ``@REG.register("name", **info)`` registers a function or class; ``REG.load_plugins()`` imports
    every entry point of ``entry_point_group`` once (an entry point names a module whose import
    registers entries, or an object registered under the entry point's name). A plugin that fails to
    import is recorded in :attr:`plugin_errors` and named when its entry is asked for; it never
    breaks the suite.
    """

    def __init__(self, kind: str, entry_point_group: Optional[str] = None):
        self.kind = kind
        self.group = entry_point_group
        self._items: Dict[str, Any] = {}
        self._info: Dict[str, Dict[str, Any]] = {}
        self._plugins_loaded = False
        self.plugin_errors: Dict[str, str] = {}

    def register(self, name: Optional[str] = None, *, override: bool = False, **info: Any) -> Callable[[F], F]:
        def deco(obj: F) -> F:
            key = name or getattr(obj, "__name__", None)
            if not key:
                raise ValueError(f"a {self.kind} needs a name")
            if key in self._items and self._items[key] is not obj and not override:
                raise ValueError(f"{self.kind} {key!r} is already registered")
            self._items[key] = obj
            self._info[key] = dict(info)
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
                self._info[ep.name] = {}

    def names(self) -> List[str]:
        """Every registered name, in the order of registration (built-in entries first, then plugins)."""
        self.load_plugins()
        return list(self._items)

    def get(self, name: str) -> Any:
        self.load_plugins()
        if name in self._items:
            return self._items[name]
        if name in self.plugin_errors:
            hint = f"; its plugin failed to load ({self.plugin_errors[name]})"
        else:
            hint = did_you_mean(name, self._items, n=3) or f" (known: {', '.join(sorted(self._items))})"
        raise UnknownNameError(f"unknown {self.kind} {name!r}{hint}")

    def info(self, name: str) -> Dict[str, Any]:
        """The keywords ``name`` was registered with (``{}`` for an entry point's bare object)."""
        self.get(name)
        return dict(self._info.get(name, {}))

    def items(self) -> List[tuple]:
        return [(n, self._items[n]) for n in self.names()]

    def __contains__(self, name: str) -> bool:
        self.load_plugins()
        return name in self._items

    def __iter__(self):
        return iter(self.names())

    def __len__(self) -> int:
        return len(self.names())
