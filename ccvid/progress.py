"""Progress bars: the suite's one switch.

Bars are drawn only on a terminal (tqdm's ``disable=None``) and never when
:func:`set_progress` turned them off (``--no-progress``); no function of the suite
takes a ``progress`` argument. It lives in the leftmost package so that every
package can draw bars through it.
"""
from __future__ import annotations

from typing import Iterable, Optional

from tqdm import tqdm

_enabled = True


def set_progress(enabled: bool) -> None:
    """Turn every progress bar of the suite on (on terminals only) or off."""
    global _enabled
    _enabled = bool(enabled)


def bar(iterable: Optional[Iterable] = None, **kwargs) -> tqdm:
    """A tqdm bar (``leave=False``, adapting to the terminal width) that obeys the switch."""
    kwargs.setdefault("leave", False)
    kwargs.setdefault("dynamic_ncols", True)
    return tqdm(iterable, disable=None if _enabled else True, **kwargs)
