"""Spoken digits: a transcript normalised to a digit string ("four oh 7, one" -> "4071")."""

from __future__ import annotations

import itertools
import re

WORDS = {
    "zero": "0", "oh": "0", "o": "0", "nought": "0", "one": "1", "won": "1", "two": "2", "to": "2", "too": "2",
    "three": "3", "four": "4", "for": "4", "fore": "4", "five": "5", "six": "6", "seven": "7", "eight": "8",
    "ate": "8", "nine": "9",
}
TEENS_AND_TENS = {"ten": "10", "eleven": "11", "twelve": "12", "thirteen": "13", "fourteen": "14",
                  "fifteen": "15", "sixteen": "16", "seventeen": "17", "eighteen": "18", "nineteen": "19"}


def spoken_digits(transcript: str) -> str:
    """Digits in the order spoken. Number words and numerals both count; "double 7" is 77;
    other words are ignored (a recogniser may add "okay", punctuation, or split "4071")."""
    out: list[str] = []
    double = False
    for token in re.findall(r"[a-z]+|\d", transcript.lower()):
        digit = token if token.isdigit() else WORDS.get(token) or TEENS_AND_TENS.get(token)
        if token in ("double", "triple"):
            double = True
            continue
        if digit is None:
            double = False
            continue
        out.append(digit * (2 if double and len(digit) == 1 else 1))
        double = False
    return "".join(out)


def digit_errors(expected: str, heard: str) -> int:
    """Digits misheard, dropped or added: the edit (Levenshtein) distance."""
    previous = list(range(len(heard) + 1))
    for i, a in enumerate(expected, 1):
        current = [i]
        for j, b in enumerate(heard, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a != b)))
        previous = current
    return previous[-1]


def digit_accuracy(expected: str, heard: str) -> float:
    """1 - (edit distance / expected length), floored at 0."""
    if not expected:
        return 1.0 if not heard else 0.0
    return max(0.0, 1.0 - digit_errors(expected, heard) / len(expected))


def allowed_errors(n_digits: int, max_errors: int) -> int:
    """Errors tolerated in a challenge of ``n_digits``: ``max_errors`` from six digits up, none
    below (a shorter challenge with a tolerance would let a replay through far more often)."""
    return max_errors if n_digits >= 6 else 0


def neighbours_bound(n_digits: int, errors: int) -> int:
    """At most how many challenge strings of ``n_digits`` lie within ``errors`` edits of any one
    heard string. One edit: the heard string itself, 9 substitutions a position, or (when the
    heard string is a digit short) 10 insertions at each of n positions: n*10 is the largest."""
    if errors == 0:
        return 1
    if errors == 1:
        return max(1 + 9 * n_digits, 10 * n_digits)
    raise ValueError("bounds are worked out for at most one error")


def replay_pass_probability(n_digits: int, errors: int, challenges: int) -> float:
    """Upper bound on the chance that a recording made for another challenge (any digits at
    all) passes a fresh uniform one: the strings it could match over all strings drawn."""
    return neighbours_bound(n_digits, errors) / challenges


def _one_edit(text: str) -> set[str]:
    digits = "0123456789"
    out = {text[:i] + text[i + 1:] for i in range(len(text))}
    out |= {text[:i] + d + text[i + 1:] for i in range(len(text)) for d in digits}
    out |= {text[:i] + d + text[i:] for i in range(len(text) + 1) for d in digits}
    return out


def challenges_within(heard: str, n_digits: int, errors: int) -> int:
    """How many challenges ``new_challenge`` can draw (``n_digits``, no digit twice in a row)
    lie within ``errors`` edits of ``heard``, counted by enumerating the edits."""
    ball = {heard}
    for _ in range(errors):
        ball |= {e for text in ball for e in _one_edit(text)}
    return sum(1 for text in ball if len(text) == n_digits and all(a != b for a, b in itertools.pairwise(text)))
