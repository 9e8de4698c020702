"""Write the golden notebooks of the real-kernel tests, one per graph shape.

    .venv/bin/python tests/notebooks/make_notebooks.py          # rewrite the .ipynb files
    .venv/bin/python tests/notebooks/make_notebooks.py --check  # exit 1 if any is out of date

Each notebook is a small, realistic flow a data scientist could have written: a `%load_ext`
cell, sometimes plain cells with imports and helpers, a `%%params` cell, then `%%step` cells
with prints and a last-expression display somewhere. The notebooks are data: the sources below
are the single place to edit them; `tests/kernel/test_shapes.py` states what each must produce.
Cell ids are derived from the notebook name, so regenerating gives byte-identical files.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent

Cell = tuple[str, str]  # ("markdown" | "code", source)


def md(source: str) -> Cell:
    return ("markdown", source.strip("\n"))


def code(source: str) -> Cell:
    return ("code", source.strip("\n"))


def load(flow: str) -> Cell:
    return code(f"%load_ext nbflow\n%flow name {flow}")


LINEAR: list[Cell] = [
    md("# Linear\nThree steps in a row, run parameters, helpers defined in a plain cell."),
    load("linear"),
    code('''
import statistics


def clean(rows):
    """Drop the missing readings."""
    return [r for r in rows if r is not None]
'''),
    code("""
%%params
n = 5
scale = 2.0
"""),
    code("""
%%step load
raw = [3, None, 1, 4, None, 1, 5, 9, 2, 6][: n + 2]
print(f"loaded {len(raw)} rows")
"""),
    code("""
%%step prep --after load
import math

_dropped = len(raw) - len(clean(raw))
values = [v * scale for v in clean(raw)]
peak = math.floor(max(values))
print(f"prepared {len(values)} values, dropped {_dropped}")
"""),
    code("""
%%step summarize --after prep
mean = statistics.mean(values)
report = {"rows": len(raw), "kept": len(values), "mean": mean, "peak": peak}
print(f"mean = {mean}")
report
"""),
    md("A whole run of the flow with a parameter overridden:"),
    code("""
rerun = %flow run -p n=3
rerun.data.report
"""),
]

BRANCH: list[Cell] = [
    md(
        "# Branch\nOne step, three branches after it, and a static join that reads its inputs "
        "by index, by parent name and by iteration."
    ),
    load("branch"),
    code("""
%%step start
base = 10
source = "sensors-v2"
print(f"base = {base}")
"""),
    code("""
%%step fast --after start
x = base + 1
score = 0.61
model = "fast"
"""),
    code("""
%%step deep --after start
x = base + 2
score = 0.93
model = "deep"
"""),
    code("""
%%step simple --after start
x = base + 3
score = 0.55
model = "simple"
note = "only the simple branch has a note"
"""),
    md(
        "`base` and `source` agree in every input and `note` exists in one: bound directly. "
        "`x`, `score` and `model` conflict: only through `inputs` (or set here, then `merge`)."
    ),
    code("""
%%step pick --after fast deep simple
first_x = inputs[0].x
deep_x = inputs.deep.x
all_x = [inp.x for inp in inputs]
n_inputs = len(inputs)
order = [inp.step for inp in inputs]
_best = max(inputs, key=lambda inp: inp.score)
best_model, best_score = _best.model, _best.score
x_is_bound = "x" in globals()
source_seen, note_seen = source, note
model = "+".join(inp.model for inp in inputs)
merge(inputs, exclude=["x", "score"])
print(f"best: {best_model} ({best_score})")
"""),
    code("""
%%step report --after pick
summary = f"{best_model} wins at {best_score} over {n_inputs} branches of {source}"
summary
"""),
]

FOREACH: list[Cell] = [
    md("# Foreach\nOne task per city (`--as city`), then a join that sees them in order."),
    load("foreach"),
    code("""
%%params
cities = ["paris", "oslo", "lima", "kyoto"]
"""),
    code("""
%%step start
targets = [c.title() for c in cities]
print(f"{len(targets)} cities")
"""),
    code("""
%%step measure --after start --foreach targets --as city
letters = len(city)
vowels = sum(ch in "aeiou" for ch in city.lower())
print(f"#{item_index} {city}: {letters} letters")
"""),
    code("""
%%step collect --after measure --join
table = {inp.city: [inp.letters, inp.vowels] for inp in inputs}
order = [inp.city for inp in inputs]
longest = max(inputs, key=lambda inp: inp.letters).city
print(f"longest: {longest}")
"""),
    code("""
%%step end --after collect
line = f"{len(table)} cities, longest {longest}, from {targets}"
line
"""),
]

FOREACH_BODY: list[Cell] = [
    md("# Foreach body\nA foreach whose body is two steps; the second continues per element."),
    load("foreach_body"),
    code("""
%%step start
words = ["alpha", "beta", "gamma", "delta", "pi"]
"""),
    code("""
%%step shout --after start --foreach words
loud = item.upper() + "!"
"""),
    code("""
%%step measure --after shout
size = len(loud)
print(f"{item} -> {loud} ({size})")
"""),
    code("""
%%step total --after measure --join
sizes = [inp.size for inp in inputs]
pairs = [[inp.item, inp.loud] for inp in inputs]
total = sum(sizes)
print(f"total {total} over {len(words)} words")
"""),
]

NESTED_FOREACH: list[Cell] = [
    md(
        "# Nested foreach\nA foreach in a foreach (one inner group is empty), an inner join, "
        "an outer join, and a step that checks the totals."
    ),
    load("nested_foreach"),
    code("""
%%step start
groups = [[1, 2], [3, 4, 5], []]
"""),
    code("""
%%step outer --after start --foreach groups --as group
label = f"g{item_index}"
print(f"{label}: {len(group)} values")
"""),
    code("""
%%step inner --after outer --foreach group --as value
square = value * value
print(f"{label}/{item_index}: {value}^2 = {square}")
"""),
    code("""
%%step inner_join --after inner --join
group_total = sum(inp.square for inp in inputs)
n_values = len(inputs)
"""),
    code("""
%%step outer_join --after inner_join --join
totals = {inp.label: inp.group_total for inp in inputs}
counts = [inp.n_values for inp in inputs]
grand_total = sum(totals.values())
print(f"grand total {grand_total}")
"""),
    code("""
%%step check --after outer_join
expected = sum(v * v for g in groups for v in g)
assert grand_total == expected, (grand_total, expected)
grand_total
"""),
    md("The same flow again, as one whole run:"),
    code("""
whole = %flow run
whole.data.grand_total
"""),
]

FOREACH_DICTS: list[Cell] = [
    md("# Foreach over dicts\nOne training task per configuration; the join picks the best."),
    load("foreach_dicts"),
    code("""
%%step start
configs = [
    {"name": "small", "lr": 0.1, "layers": 2},
    {"name": "wide", "lr": 0.05, "layers": 4},
    {"name": "deep", "lr": 0.01, "layers": 8},
]
"""),
    code("""
%%step train --after start --foreach configs
loss = round(1.0 / (item["layers"] * (1 + item["lr"] * 10)), 4)
print(f"{item['name']}: loss {loss}")
"""),
    code("""
%%step choose --after train --join
losses = {inp.item["name"]: inp.loss for inp in inputs}
best = min(inputs, key=lambda inp: inp.loss).item
print(f"best config: {best['name']}")
best
"""),
]

FOREACH_BRANCHES: list[Cell] = [
    md(
        "# Branches inside a foreach, then a second foreach\nTwo branches per element, a "
        "static join per element, the foreach join, then a new foreach after it."
    ),
    load("foreach_branches"),
    code("""
%%step start
shards = ["a", "bb", "ccc"]
"""),
    code("""
%%step split --after start --foreach shards --as shard
size = len(shard)
"""),
    code("""
%%step double --after split
value = size * 2
"""),
    code("""
%%step square --after split
value = size * size
"""),
    code("""
%%step combine --after double square
both = [inp.value for inp in inputs]
print(f"{shard}: {both}")
"""),
    code("""
%%step gather --after combine --join
results = {inp.shard: inp.both for inp in inputs}
"""),
    code("""
%%step again --after gather --foreach shards --as name
score = len(name) + results[name][0]
"""),
    code("""
%%step final --after again --join
scores = [inp.score for inp in inputs]
scores
"""),
    md("The same flow again, as one whole run:"),
    code("""
whole = %flow run
whole.data.scores
"""),
]

TRANSIENT_OUT: list[Cell] = [
    md(
        "# Transient and out\nA step holds a lock and a generator (neither can be stored: "
        "`--transient`); another keeps only what `--out` names."
    ),
    load("transient_out"),
    code("""
import threading


def iter_readings():
    yield from [4, 8, 15, 16, 23, 42]
"""),
    code("""
%%step connect --transient lock,stream
lock = threading.Lock()
stream = iter_readings()
with lock:
    readings = list(stream)
print(f"read {len(readings)} readings")
"""),
    code("""
%%step stats --after connect --out mean,spread
_n = len(readings)
mean = sum(readings) / _n
spread = max(readings) - min(readings)
scratch = sorted(readings)
debug = {"n": _n}
"""),
    code("""
%%step verdict --after stats
verdict = "wide" if spread > mean else "narrow"
print(f"{verdict}: spread {spread} vs mean {mean}")
"""),
]

NOTEBOOKS: dict[str, list[Cell]] = {
    "linear": LINEAR,
    "branch": BRANCH,
    "foreach": FOREACH,
    "foreach_body": FOREACH_BODY,
    "nested_foreach": NESTED_FOREACH,
    "foreach_dicts": FOREACH_DICTS,
    "foreach_branches": FOREACH_BRANCHES,
    "transient_out": TRANSIENT_OUT,
}


def build(name: str) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3 (ipykernel)",
        "language": "python",
    }
    nb.metadata["language_info"] = {"name": "python"}
    for index, (kind, source) in enumerate(NOTEBOOKS[name]):
        make = nbformat.v4.new_markdown_cell if kind == "markdown" else nbformat.v4.new_code_cell
        cell = make(source)
        cell.id = f"{name.replace('_', '-')}-{index}"  # stable ids: regenerating changes nothing
        nb.cells.append(cell)
    nbformat.validate(nb)
    return nb


def render(name: str) -> str:
    return nbformat.writes(build(name)) + "\n"


def main(argv: list[str]) -> int:
    check = "--check" in argv
    stale = []
    for name in NOTEBOOKS:
        path = HERE / f"{name}.ipynb"
        text = render(name)
        if check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(path.name)
        else:
            path.write_text(text, encoding="utf-8")
    if stale:
        print(f"out of date: {', '.join(stale)}; run {Path(__file__).name}", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
