"""Spoken digits: a transcript normalised to a digit string ("four oh 7, one" -> "4071")."""

from __future__ import annotations

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


def digit_accuracy(expected: str, heard: str) -> float:
    """1 - (edit distance / expected length), floored at 0."""
    if not expected:
        return 1.0 if not heard else 0.0
    previous = list(range(len(heard) + 1))
    for i, a in enumerate(expected, 1):
        current = [i]
        for j, b in enumerate(heard, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a != b)))
        previous = current
    return max(0.0, 1.0 - previous[-1] / len(expected))
