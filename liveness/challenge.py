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


def challenge_count(n_digits: int) -> int:
    """How many digit strings ``new_challenge`` can draw at this length (no digit twice in a row)."""
    return int(10 * 9 ** (n_digits - 1))


def new_challenge(
    *, min_digits: int = 6, max_digits: int = 6, min_turns: int = 2, max_turns: int = 3
) -> Challenge:
    """A fresh challenge from the OS CSPRNG.

    Six digits, no digit twice in a row: a repeated digit ("5 5") is what speech recognition most
    often hears once (it was most of the genuine failures, scripts/eval_digits.py), and six digits
    leave room to tolerate one misheard digit (liveness.digits.allowed_errors) while a recording
    prepared for another challenge still passes with probability about 1e-4. Consecutive head
    turns differ, so every turn is a visible movement.
    """
    if not 1 <= min_digits <= max_digits or not 1 <= min_turns <= max_turns:
        raise ValueError("bad challenge bounds")
    n_digits = min_digits + secrets.randbelow(max_digits - min_digits + 1)
    digits = [secrets.randbelow(10)]
    while len(digits) < n_digits:
        # Uniform over the nine digits that differ from the last one.
        digits.append((digits[-1] + 1 + secrets.randbelow(9)) % 10)
    n_turns = min_turns + secrets.randbelow(max_turns - min_turns + 1)
    turns: list[HeadTurn] = []
    choices = list(HeadTurn)
    for _ in range(n_turns):
        options = [t for t in choices if not turns or t != turns[-1]]
        turns.append(options[secrets.randbelow(len(options))])
    return Challenge(digits="".join(map(str, digits)), head_turns=tuple(turns))
