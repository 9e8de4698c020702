"""A synthetic Hearthstone deck data set, shaped like the public deck lists.

It is not real data: it is generated here, deterministically from a seed, so the example runs
offline, in seconds, and gives the same decks everywhere. It keeps what makes the real task
interesting:

* nine hero classes, each with its own card pool, plus a neutral pool every class may use;
* two or three archetypes per class (``Aggro Hunter``, ``Secret Mage``, ...), each defined by a
  handful of signature cards, some of them neutral and shared with archetypes of other classes;
* decks of exactly 30 cards, at most two copies of a card: part of the archetype's signature,
  a few cards of another archetype of the class (players mix), the rest random (the noise);
* about 40% of the decks without an archetype label, the ones a model is asked to label.

    decks = make_decks(2_000, seed=0)   # DataFrame: deck_id, hero_class, archetype, cards
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["ARCHETYPES", "CLASSES", "DECK_SIZE", "make_decks"]

DECK_SIZE = 30
CLASS_POOL = 45  # cards of each class
NEUTRAL_POOL = 150
KEEP_SIGNATURE = 0.6  # the share of its signature cards a deck plays, on average
KEEP_COUSIN = 0.3  # ... and of a cousin archetype's (of the same class)
ARCHETYPES: dict[str, tuple[str, ...]] = {
    "Druid": ("Token Druid", "Ramp Druid", "Malygos Druid"),
    "Hunter": ("Face Hunter", "Secret Hunter"),
    "Mage": ("Tempo Mage", "Freeze Mage", "Secret Mage"),
    "Paladin": ("Aggro Paladin", "Control Paladin"),
    "Priest": ("Dragon Priest", "Control Priest", "Combo Priest"),
    "Rogue": ("Miracle Rogue", "Tempo Rogue"),
    "Shaman": ("Aggro Shaman", "Midrange Shaman", "Evolve Shaman"),
    "Warlock": ("Zoo Warlock", "Handlock", "Control Warlock"),
    "Warrior": ("Pirate Warrior", "Control Warrior", "Quest Warrior"),
}
CLASSES = tuple(ARCHETYPES)


def make_decks(n_decks: int = 2_000, seed: int = 0, unlabelled: float = 0.4) -> pd.DataFrame:
    """`n_decks` decks: `deck_id`, `hero_class`, `archetype` (None for about `unlabelled` of
    them) and `cards` (a list of 30 card names, sorted)."""
    if n_decks < 1:
        raise ValueError(f"n_decks must be at least 1, not {n_decks}")
    if not 0 <= unlabelled < 1:
        raise ValueError(f"unlabelled is a fraction in [0, 1), not {unlabelled}")
    signatures = _signatures(np.random.default_rng(seed))
    rng = np.random.default_rng(seed + 1)
    neutral = [f"Neutral {i:03d}" for i in range(NEUTRAL_POOL)]
    rows = []
    for deck_id in range(n_decks):
        hero = CLASSES[rng.integers(len(CLASSES))]
        archetype = ARCHETYPES[hero][rng.integers(len(ARCHETYPES[hero]))]
        pool = [f"{hero} {i:02d}" for i in range(CLASS_POOL)] + neutral
        cousin = ARCHETYPES[hero][rng.integers(len(ARCHETYPES[hero]))]
        cards = _deck(rng, signatures[archetype], signatures[cousin], pool)
        label = None if rng.random() < unlabelled else archetype
        rows.append((deck_id, hero, label, cards))
    return pd.DataFrame(rows, columns=["deck_id", "hero_class", "archetype", "cards"])


def _signatures(rng: np.random.Generator) -> dict[str, list[str]]:
    """Each archetype's signature: six to nine class cards and one to three neutral ones (so
    signatures overlap within a class and across classes, as in the real game)."""
    signatures = {}
    for hero, archetypes in ARCHETYPES.items():
        for archetype in archetypes:
            own = rng.choice(CLASS_POOL, size=rng.integers(6, 10), replace=False)
            shared = rng.choice(NEUTRAL_POOL // 3, size=rng.integers(1, 4), replace=False)
            signatures[archetype] = [f"{hero} {i:02d}" for i in sorted(own)] + [
                f"Neutral {i:03d}" for i in sorted(shared)
            ]
    return signatures


def _deck(
    rng: np.random.Generator, signature: list[str], cousin: list[str], pool: list[str]
) -> list[str]:
    """A legal deck: part of its signature (one or two copies each), a few cards of a cousin
    archetype of the same class (players mix), then random cards."""
    kept = [card for card in signature if rng.random() < KEEP_SIGNATURE]
    kept += [card for card in cousin if rng.random() < KEEP_COUSIN]
    cards: list[str] = []
    copies: dict[str, int] = {}
    for card in [*kept, *(pool[i] for i in rng.integers(len(pool), size=4 * DECK_SIZE))]:
        if len(cards) == DECK_SIZE:
            break
        wanted = int(rng.integers(1, 3))
        while copies.get(card, 0) < wanted and len(cards) < DECK_SIZE:
            copies[card] = copies.get(card, 0) + 1
            cards.append(card)
    return sorted(cards)
