"""Command-line ids that may begin with a dash.

A signing key id is a base64url thumbprint, so about 1 key in 64 starts with ``-`` (and some
with ``--``); subject ids are chosen by callers. Click would read such an id as an unknown option
and fail with "No such option", which an operator cannot act on. Commands built with
:class:`IdArgumentCommand` take every word that is not one of their own options as a positional
value, so ``signing-keys retire -x3F...`` works as typed; ``--`` keeps working too.
"""

from __future__ import annotations

from collections.abc import Sequence

import click


def _positional_last(options: dict[str, click.Option], args: Sequence[str]) -> list[str]:
    """The command's own options (with their values) first, then ``--``, then everything else."""
    own: list[str] = []
    rest: list[str] = []
    index = 0
    while index < len(args):
        word = args[index]
        if word == "--":
            rest.extend(args[index + 1:])
            break
        option = options.get(word.split("=", 1)[0])
        if option is None:
            rest.append(word)
        else:
            own.append(word)
            takes_value = not (option.is_flag or option.count) and "=" not in word
            if takes_value and index + 1 < len(args):
                index += 1
                own.append(args[index])
        index += 1
    return [*own, "--", *rest] if rest else own


class IdArgumentCommand(click.Command):
    """A command whose positional arguments are ids that may start with ``-``."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        options = {name: param for param in self.get_params(ctx) if isinstance(param, click.Option)
                   for name in (*param.opts, *param.secondary_opts)}
        return super().parse_args(ctx, _positional_last(options, args))
