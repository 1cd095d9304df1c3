"""Progress bars for long work: widgets in JupyterLab, text where a terminal must see them.

``run_all.sh`` streams a notebook's output to the terminal as it runs; a widget bar would reach the
executed notebook only, so it sets ``CLIPCREATE_PROGRESS=text`` and every bar is then tqdm's text
bar (rate and ETA included), written to the notebook's stderr and from there to the terminal.
"""

from __future__ import annotations

import os

from tqdm import auto, std


def bar(*args, **kwargs) -> std.tqdm:
    """A tqdm bar: the text one under ``CLIPCREATE_PROGRESS=text``, else the best the front end shows."""
    cls = std.tqdm if os.environ.get("CLIPCREATE_PROGRESS") == "text" else auto.tqdm
    return cls(*args, **kwargs)
