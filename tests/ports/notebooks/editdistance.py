"""A pure-Python stand-in for PyPI's `editdistance` (tutorial 04 installs it with @conda).

The port runs offline, without conda, so `import editdistance` in the `bonus_movie` step finds
this module beside the notebooks (the kernel's working directory). Same call, same answer:
`eval(a, b)` is the Levenshtein distance (insertions, deletions, substitutions, cost 1 each).
"""

from __future__ import annotations


def eval(a: str, b: str) -> int:
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        current = [i]
        for j, cb in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]
