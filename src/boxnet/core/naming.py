"""Random container names in Docker's adjective_surname style."""

from __future__ import annotations

import random

ADJECTIVES = ("admiring", "amazing", "bold", "brave", "clever", "eager", "elegant", "epic",
              "festive", "focused", "gallant", "happy", "jolly", "keen", "lucid", "modest",
              "nifty", "optimistic", "pensive", "quirky", "relaxed", "serene", "sharp",
              "stoic", "tender", "upbeat", "vibrant", "wizardly", "youthful", "zen")
SURNAMES = ("archimedes", "babbage", "cerf", "curie", "dijkstra", "einstein", "euler",
            "feynman", "galileo", "hopper", "hypatia", "kepler", "knuth", "lamport",
            "lovelace", "mccarthy", "newton", "noether", "pascal", "perlman", "ritchie",
            "shannon", "thompson", "torvalds", "turing", "wozniak")


def random_name(taken) -> str:
    """A free adjective_surname name (a digit is appended on collision)."""
    for i in range(100):
        name = f"{random.choice(ADJECTIVES)}_{random.choice(SURNAMES)}"
        if i >= 10:
            name += str(random.randint(0, 99))
        if name not in taken:
            return name
    raise RuntimeError("could not find a free container name")
