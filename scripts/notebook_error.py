"""Print the error that stopped an executed notebook, as its own sentence: ``ErrorType: message``.

run_all.sh calls it when papermill fails, so the terminal shows why (a missing local model folder, an
offline hub, a notebook run out of order), not only where the traceback is.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def first_error(notebook: Path) -> str:
    try:
        cells = json.loads(notebook.read_text())["cells"]
    except (OSError, ValueError, KeyError):
        return "the notebook stopped before it could be saved"
    for cell in cells:
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                return f"{output.get('ename', 'Error')}: {output.get('evalue', '').strip()}"
    return "the notebook stopped without an error in a cell (its kernel died, or was interrupted)"


if __name__ == "__main__":
    print(first_error(Path(sys.argv[1])))
