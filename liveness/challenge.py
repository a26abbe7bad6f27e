"""Random enrollment challenges: digits to say and head turns to make, in order."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from enum import StrEnum


class HeadTurn(StrEnum):
    LEFT = "left"
    RIGHT = "right"
    UP = "up"


@dataclass(frozen=True, slots=True)
class Challenge:
    """What a person must do on camera during one enrollment session."""

    digits: str
    head_turns: tuple[HeadTurn, ...]


def new_challenge(
    *, min_digits: int = 4, max_digits: int = 6, min_turns: int = 2, max_turns: int = 3
) -> Challenge:
    """A fresh challenge from the OS CSPRNG.

    Consecutive head turns differ, so every turn is a visible movement; digits are uniform, so
    a recording prepared in advance matches with probability at most 10**-4.
    """
    if not 1 <= min_digits <= max_digits or not 1 <= min_turns <= max_turns:
        raise ValueError("bad challenge bounds")
    n_digits = min_digits + secrets.randbelow(max_digits - min_digits + 1)
    digits = "".join(str(secrets.randbelow(10)) for _ in range(n_digits))
    n_turns = min_turns + secrets.randbelow(max_turns - min_turns + 1)
    turns: list[HeadTurn] = []
    choices = list(HeadTurn)
    for _ in range(n_turns):
        options = [t for t in choices if not turns or t != turns[-1]]
        turns.append(options[secrets.randbelow(len(options))])
    return Challenge(digits=digits, head_turns=tuple(turns))
