"""Write labextension/src/stepoptions.ts, the `%%step` options the extension knows, from the
kernel's own parser (nbflow.core.stepline.step_parser), so the two cannot read a step line apart.

Run it after changing the parser's options: `.venv/bin/python labextension/scripts/stepoptions.py`
(tests/unit/test_stepline.py fails while the checked-in file differs from what this writes).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TARGET = REPO / "labextension" / "src" / "stepoptions.ts"
TEMPLATE = """\
// Generated from nbflow.core.stepline.step_parser() by labextension/scripts/stepoptions.py: do not
// edit. Run `.venv/bin/python labextension/scripts/stepoptions.py` after changing the options.

/** How many values each `%%step` option takes: 0 (a flag), 1, or '+' (one or more). */
export const STEP_OPTIONS: {{ readonly [option: string]: 0 | 1 | '+' }} = {{
{rows}
}};

/** Whether an option may be shortened to any prefix only it has (argparse's allow_abbrev). */
export const ABBREVIATIONS = {abbreviations};
"""


def arity(action: argparse.Action) -> str:
    # The only argparse shapes stepline.ts reads; another one has to be taught to it first.
    shapes = {None: "1", 0: "0", "+": "'+'"}
    if action.nargs not in shapes:
        raise ValueError(f"{action.option_strings}: nargs={action.nargs!r} is new to stepline.ts")
    return shapes[action.nargs]


def render() -> str:
    from nbflow.core.stepline import step_parser

    parser = step_parser()
    rows = [
        f"  '{option}': {arity(action)}"
        for action in parser._actions
        for option in action.option_strings
    ]
    abbreviations = "true" if parser.allow_abbrev else "false"
    return TEMPLATE.format(rows=",\n".join(rows), abbreviations=abbreviations)


if __name__ == "__main__":
    # This checkout's parser, not that of whichever nbflow the interpreter has installed.
    sys.path.insert(0, str(REPO))
    TARGET.write_text(render())
    print(f"wrote {TARGET}")
