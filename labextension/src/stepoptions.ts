// Generated from nbflow.core.stepline.step_parser() by labextension/scripts/stepoptions.py: do not
// edit. Run `.venv/bin/python labextension/scripts/stepoptions.py` after changing the options.

/** How many values each `%%step` option takes: 0 (a flag), 1, or '+' (one or more). */
export const STEP_OPTIONS: { readonly [option: string]: 0 | 1 | '+' } = {
  '--after': '+',
  '--foreach': 1,
  '--as': 1,
  '--join': 0,
  '--transient': 1,
  '--out': 1,
  '--when': 1,
  '--retry': 1,
  '--retry-delay': 1,
  '--timeout': 1,
  '--catch': 1,
  '--resources': 1,
  '--no-cache': 0,
  '--in-kernel': 0,
  '--env': '+',
  '--python': 1
};

/** Whether an option may be shortened to any prefix only it has (argparse's allow_abbrev). */
export const ABBREVIATIONS = true;
