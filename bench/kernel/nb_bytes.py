#!/usr/bin/env python3
"""Bytes stored per run (issue 16): notebooks/hearthstone.ipynb run by `nbflow run`, beside
Metaflow's `.metaflow` for the same flow (HEARTHSTONE_FLOW below: the notebook's cells as a
FlowSpec, line for line), each tool run twice with its defaults into a fresh datastore of its
own. Figures: the datastore's bytes on disk after the first run and after both; for nbflow
also the plain bytes of the same blobs (what it stored before compression, read from each
compressed blob's header), so the codec's share shows apart from deduplication.

Target: nbflow's bytes at most 0.5x Metaflow's. Metaflow dedups identical artifacts too (its
content-addressed store) and gzips each one; nbflow's second run reuses every unchanged task
(its cache), so it adds only the run's records and the executed notebook.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from harness import (
    ANCHORS_PY,
    NBFLOW_CLI,
    REPO,
    child_env,
    cli,
    dir_size,
    emit,
    executable,
    log,
    run_timed,
    scratch,
)

NOTEBOOK = REPO / "notebooks" / "hearthstone.ipynb"

# The notebook's cells as Metaflow writes them: the same data, features, grid and forests.
HEARTHSTONE_FLOW = """
import pandas as pd
from metaflow import FlowSpec, step
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import train_test_split

from hearthstone_data import make_decks

N_DECKS, SEED, MIN_SHARE = {n_decks}, 0, 0.5
N_ESTIMATORS, MAX_DEPTH = [50, 150], [6, 12, None]


def find_signatures(decks, min_share):
    signatures = {{}}
    for (hero, archetype), group in decks.groupby(["hero_class", "archetype"]):
        others = decks[(decks.hero_class == hero) & (decks.archetype != archetype)]
        share = group.cards.map(set).explode().value_counts() / len(group)
        elsewhere = others.cards.map(set).explode().value_counts() / max(len(others), 1)
        signatures[archetype] = sorted(
            card for card, s in share.items() if s >= min_share and s > 2 * elsewhere.get(card, 0)
        )
    return signatures


def card_counts(decks, vocabulary):
    counts = pd.DataFrame(
        [[cards.count(card) for card in vocabulary] for cards in decks.cards],
        columns=vocabulary, index=decks.index,
    )
    classes = pd.get_dummies(decks.hero_class, prefix="class", dtype=int)
    return pd.concat([counts, classes], axis=1)


class HearthstoneFlow(FlowSpec):
    @step
    def start(self):
        self.decks = make_decks(N_DECKS, seed=SEED)
        self.labelled = self.decks[self.decks.archetype.notna()]
        self.unlabelled = self.decks[self.decks.archetype.isna()]
        self.next(self.signatures)

    @step
    def signatures(self):
        self.signature_cards = find_signatures(self.labelled, MIN_SHARE)
        self.vocabulary = sorted({{c for cards in self.signature_cards.values() for c in cards}})
        self.next(self.features)

    @step
    def features(self):
        self.X = card_counts(self.labelled, self.vocabulary)
        self.y = self.labelled.archetype
        self.X_train, self.X_test, self.y_train, self.y_test = train_test_split(
            self.X, self.y, test_size=0.25, random_state=SEED, stratify=self.y
        )
        self.grid = [{{"n_estimators": n, "max_depth": d}} for n in N_ESTIMATORS for d in MAX_DEPTH]
        self.next(self.train, foreach="grid")

    @step
    def train(self):
        self.hyper = self.input
        self.model = RandomForestClassifier(**self.hyper, random_state=SEED, n_jobs=1).fit(
            self.X_train, self.y_train
        )
        self.accuracy = float(self.model.score(self.X_test, self.y_test))
        self.next(self.pick)

    @step
    def pick(self, inputs):
        best = max(inputs, key=lambda forest: forest.accuracy)
        self.model, self.best_params, self.accuracy = best.model, best.hyper, best.accuracy
        self.leaderboard = pd.DataFrame(
            [{{**forest.hyper, "accuracy": forest.accuracy}} for forest in inputs]
        ).sort_values("accuracy", ascending=False, ignore_index=True)
        self.merge_artifacts(inputs, include=["unlabelled", "vocabulary", "signature_cards"])
        self.next(self.label)

    @step
    def label(self):
        self.predicted = self.unlabelled.assign(
            archetype=self.model.predict(card_counts(self.unlabelled, self.vocabulary))
        )
        self.label_counts = self.predicted.archetype.value_counts().to_dict()
        self.next(self.end)

    @step
    def end(self):
        chance = 1 / len(self.signature_cards)
        self.summary = f"best {{self.best_params}}: {{self.accuracy:.3f}} (chance {{chance:.3f}})"
        print(self.summary)


if __name__ == "__main__":
    HearthstoneFlow()
"""


def nbflow_bytes(tmp: Path, runs: int, n_decks: int) -> dict[str, object]:
    from nbflow.store.blobs import codec

    store = tmp / "nbflow-store"
    env = child_env(store)
    after: list[int] = []
    for r in range(runs):
        cmd = [executable(NBFLOW_CLI), "run", str(NOTEBOOK), "-p", "n_decks", str(n_decks)]
        dt, _ = run_timed(cmd, env=env, cwd=tmp, timeout=900)
        after.append(dir_size(store))
        log(f"nbflow run {r + 1}/{runs}: {dt:.1f} s, store {after[-1] / 1e6:.1f} MB")
    blobs = [p for p in (store / "blobs").glob("*/*") if p.is_file()]
    on_disk = sum(p.stat().st_size for p in blobs)
    plain = 0
    for path in blobs:
        with path.open("rb") as file:
            plain += codec.plain_size(file.read(codec.HEADER_SIZE), path.stat().st_size)
    return {"bytes_after": after, "blob_bytes": on_disk, "blob_plain_bytes": plain}


def metaflow_bytes(tmp: Path, runs: int, n_decks: int) -> dict[str, object]:
    sys.path.insert(0, str(REPO / "bench" / "anchors"))
    from common import metaflow_env  # the anchors' Metaflow settings: a datastore of its own

    home = tmp / "metaflow"
    home.mkdir()
    shutil.copy(REPO / "nbflow" / "examples" / "hearthstone.py", home / "hearthstone_data.py")
    flow = home / "hearthstone_flow.py"
    flow.write_text(HEARTHSTONE_FLOW.format(n_decks=n_decks))
    env = metaflow_env(home)
    after: list[int] = []
    for r in range(runs):
        cmd = [str(ANCHORS_PY), str(flow), "--no-pylint", "run"]
        dt, _ = run_timed(cmd, env=env, cwd=home, timeout=1800)
        after.append(dir_size(home / "store"))
        log(f"metaflow run {r + 1}/{runs}: {dt:.1f} s, .metaflow {after[-1] / 1e6:.1f} MB")
    return {"bytes_after": after}


def main() -> None:
    p = cli(__doc__)
    p.add_argument("--runs", type=int, default=2, help="runs of the flow by each tool")
    p.add_argument("--decks", type=int, default=3000, help="n_decks (the notebook's default)")
    args = p.parse_args()
    with scratch("nb-bytes") as tmp:
        metaflow = metaflow_bytes(tmp, args.runs, args.decks)
        nbflow = nbflow_bytes(tmp, args.runs, args.decks)
    emit(
        {
            "workload": "hearthstone",
            "runs": args.runs,
            "n_decks": args.decks,
            "nbflow": nbflow,
            "metaflow": metaflow,
            "x_metaflow": nbflow["bytes_after"][-1] / metaflow["bytes_after"][-1],  # type: ignore[index]
        },
        args.json,
    )


if __name__ == "__main__":
    main()
