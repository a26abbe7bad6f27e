"""Operator commands over the audit log, subjects and signing keys.

Tables for people (rich), ``--json`` for scripts. Exit codes: 0 ok, 1 a check failed or the
thing asked for does not exist, 2 bad usage. Every command is itself recorded in the audit log
with the operator's name (``--operator``, ``$LIKENESS_OPERATOR`` or the login name).
"""

from __future__ import annotations

import base64
import getpass
import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from auditlog.model import Actor, ActorType, AuditEvent, Checkpoint, Outcome
from auditlog.ports import AuditFilter
from identity_service.cli_ids import IdArgumentCommand

if TYPE_CHECKING:
    from identity_service.wiring import App
from kernel.errors import DomainError

console = Console()
T = TypeVar("T")


def _operator(name: str | None) -> str:
    return name or os.environ.get("LIKENESS_OPERATOR") or getpass.getuser()


@contextmanager
def operator_app(command: str, operator: str | None, **args: object) -> Iterator[tuple[App, Actor]]:
    """An App for one command; records the command and its outcome in the audit log."""
    # Imported here, not at the top: `--help` of every group answers without the storage code.
    from identity_service.logs import configure
    from identity_service.settings import load_settings
    from identity_service.wiring import build_app

    settings = load_settings()
    configure(settings.log_format, "warning")
    app = build_app(settings)
    actor = Actor(ActorType.OPERATOR, _operator(operator))
    details = {k: str(v) for k, v in args.items() if v not in (None, "", False)}
    details["command"] = command
    outcome = Outcome.FAILURE
    try:
        yield app, actor
        outcome = Outcome.SUCCESS
    except SystemExit as stop:
        outcome = Outcome.SUCCESS if stop.code in (0, None) else Outcome.FAILURE
        raise
    finally:
        try:
            app.audit.record_now(actor.draft("operator.command", outcome, details=details))
        finally:
            app.close()


def event_dict(event: AuditEvent) -> dict[str, Any]:
    return {
        "sequence": event.sequence, "time": event.time.isoformat(), "actor_type": event.actor_type.value,
        "actor_id": event.actor_id, "subject_id": event.subject_id, "action": event.action,
        "outcome": event.outcome.value, "reason": event.reason, "request_id": event.request_id,
        "details": event.details, "leaf_hash": event.leaf_hash.hex(), "redacted": event.redacted,
    }


# Outcomes an operator must not miss are coloured on a terminal (never in a pipe).
OUTCOME_STYLE = {"deny": "bold red", "failure": "bold red", "allow": "green", "success": "green",
                 "redacted": "dim"}


def _outcome(outcome: str) -> str:
    style = OUTCOME_STYLE.get(outcome)
    return f"[{style}]{outcome}[/{style}]" if style else outcome


def event_line(e: AuditEvent) -> str:
    """One event on one line: what a pipe, grep and `tail -f` want."""
    reason = "[redacted]" if e.redacted else e.reason
    return "  ".join(part for part in (
        f"#{e.sequence}", e.time.strftime("%Y-%m-%d %H:%M:%S"), f"{e.actor_type.value}:{e.actor_id}",
        e.subject_id or "-", e.action, e.outcome.value, reason) if part)


def print_events(events: list[AuditEvent], as_json: bool) -> None:
    """JSON lines, one line per event in a pipe, or a table that fits the terminal's width (long
    values end in an ellipsis instead of wrapping a row over several lines)."""
    if as_json:
        for event in events:
            click.echo(json.dumps(event_dict(event)))
        return
    if not console.is_terminal:
        for event in events:
            click.echo(event_line(event))
        return
    table = Table(expand=False, pad_edge=False, box=None)
    for column, ratio in (("seq", 0), ("time", 0), ("actor", 2), ("subject", 2), ("action", 3), ("outcome", 0),
                          ("reason", 2)):
        table.add_column(column, no_wrap=True, overflow="ellipsis", ratio=ratio or None)
    for e in events:
        table.add_row(
            str(e.sequence), e.time.strftime("%Y-%m-%d %H:%M:%S"), escape(f"{e.actor_type.value}:{e.actor_id}"),
            escape(e.subject_id), escape(e.action), _outcome(e.outcome.value),
            "[dim]redacted[/dim]" if e.redacted else escape(e.reason),
        )
    console.print(table)


def print_fields(body: dict[str, Any]) -> None:
    """Fields as aligned 'name  value' lines: lists joined, mappings as key=value, no reprs."""
    width = max((len(k) for k in body), default=0)
    for key, value in body.items():
        if isinstance(value, dict):
            text = ", ".join(f"{k}={v}" for k, v in sorted(value.items())) or "-"
        elif isinstance(value, list | tuple):
            text = ", ".join(str(v) for v in value) or "-"
        elif isinstance(value, bool):
            text = "yes" if value else "no"
        else:
            text = str(value) if value not in ("", None) else "-"
        text = _outcome(text) if key == "outcome" else escape(text)
        console.print(f"[bold]{key:>{width}}[/bold]  {text}", highlight=False, soft_wrap=True)


def _time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise click.BadParameter(f"{value!r} is not an ISO 8601 time") from exc
    if moment.tzinfo is None:
        raise click.BadParameter(f"{value!r} needs a timezone, e.g. 2026-11-25T10:00:00+00:00")
    return moment


operator_option = click.option("--operator", default=None, help="Who runs this (default $LIKENESS_OPERATOR or login).")
json_option = click.option("--json", "as_json", is_flag=True, help="JSON lines for scripts.")


@click.group()
def audit() -> None:
    """The tamper-evident audit log."""


@audit.command("list")
@click.option("--subject", default="", help="Only events about this subject.")
@click.option("--action", default="", help="Only this action, e.g. consent.permission.check.")
@click.option("--outcome", type=click.Choice([o.value for o in Outcome]), default=None)
@click.option("--since", default=None, help="ISO 8601 time with timezone, inclusive.")
@click.option("--until", default=None, help="ISO 8601 time with timezone, exclusive.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 100_000))
@click.option("--oldest-first", is_flag=True, help="Default is newest first.")
@json_option
@operator_option
def audit_list(subject: str, action: str, outcome: str | None, since: str | None, until: str | None,
               limit: int, oldest_first: bool, as_json: bool, operator: str | None) -> None:
    """Events matching the filters."""
    flt = AuditFilter(subject, action, Outcome(outcome) if outcome else None, _time(since), _time(until))
    with operator_app("audit list", operator, subject=subject, action=action, outcome=outcome) as (app, _):
        with app.store.read() as tx:
            events = tx.list_audit(flt, after_sequence=None, limit=limit, descending=not oldest_first)
        print_events(events, as_json)


@audit.command("show")
@click.argument("sequence", type=click.IntRange(0))
@json_option
@operator_option
def audit_show(sequence: int, as_json: bool, operator: str | None) -> None:
    """One event in full."""
    with operator_app("audit show", operator, sequence=sequence) as (app, _):
        with app.store.read() as tx:
            event = tx.get_audit(sequence)
        if event is None:
            click.echo(f"no event {sequence}", err=True)
            sys.exit(1)
        body = event_dict(event)
        if as_json:
            click.echo(json.dumps(body))
        else:
            print_fields(body)


@audit.command("tail")
@click.option("-n", "count", default=20, show_default=True, type=click.IntRange(0, 10_000))
@click.option("--follow", "-f", is_flag=True, help="Keep printing new events until interrupted.")
@click.option("--interval", default=1.0, show_default=True, type=click.FloatRange(0.05, 60))
@json_option
@operator_option
def audit_tail(count: int, follow: bool, interval: float, as_json: bool, operator: str | None) -> None:
    """The newest events; with --follow, new ones as they are appended."""
    with operator_app("audit tail", operator, follow=follow) as (app, _):
        with app.store.read() as tx:
            events = list(reversed(tx.list_audit(AuditFilter(), after_sequence=None, limit=count, descending=True)))
            last = events[-1].sequence if events else tx.audit_head()[0] - 1
        print_events(events, as_json)
        try:
            while follow:
                time.sleep(interval)
                with app.store.read() as tx:
                    new = tx.scan_audit(after_sequence=last, limit=1000)
                for event in new:  # one line per new event, never a whole table again
                    click.echo(json.dumps(event_dict(event)) if as_json else event_line(event))
                if new:
                    last = new[-1].sequence
                    sys.stdout.flush()
        except KeyboardInterrupt:
            pass


@audit.command("verify")
@click.option("--against", "witness", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="A checkpoint kept outside the database (audit checkpoint --export): also prove the log "
                   "still holds what it signed, so a rollback is caught.")
@json_option
@operator_option
def audit_verify(witness: Path | None, as_json: bool, operator: str | None) -> None:
    """Recompute every leaf and the tree, check every checkpoint; exit 1 naming the first bad event."""
    witnessed = None
    if witness is not None:
        try:
            witnessed = Checkpoint.from_json(json.loads(witness.read_text()))
        except (ValueError, KeyError, TypeError) as exc:
            raise click.BadParameter(f"not a checkpoint written by `audit checkpoint --export`: {exc}",
                                     param_hint="--against") from None
    with operator_app("audit verify", operator, against=str(witness or "")) as (app, _):
        started = time.perf_counter()
        keys = app.keyring.checkpoint_keys()
        from auditlog.log import verify_against, verify_log

        report = verify_log(app.store, keys) if witnessed is None else verify_against(app.store, witnessed, keys)
        seconds = round(time.perf_counter() - started, 3)
        body = {
            "ok": report.ok, "events_checked": report.events_checked,
            "checkpoints_checked": report.checkpoints_checked, "unsigned_tail": report.unsigned_tail,
            "first_bad_sequence": report.first_bad_sequence, "problem": report.problem, "seconds": seconds,
        }
        if as_json:
            click.echo(json.dumps(body))
        elif report.ok:
            console.print(
                f"[green]OK[/green] {report.events_checked} events, {report.checkpoints_checked} signed "
                f"checkpoints verified in {seconds}s; {report.unsigned_tail} newest events not yet checkpointed"
            )
        else:
            where = (f"first bad event: {report.first_bad_sequence}: " if report.first_bad_sequence is not None
                     else "")
            console.print(f"[red]FAILED[/red] {where}{report.problem}")
        if not report.ok:
            sys.exit(1)


@audit.command("export")
@click.option("--subject", default="", help="Only events about this subject.")
@operator_option
def audit_export(subject: str, operator: str | None) -> None:
    """Every event as JSON lines on stdout, oldest first (streams; any size)."""
    with operator_app("audit export", operator, subject=subject) as (app, _):
        after: int | None = None
        while True:
            with app.store.read() as tx:
                page = tx.list_audit(AuditFilter(subject_id=subject), after_sequence=after, limit=5000)
            for event in page:
                click.echo(json.dumps(event_dict(event)))
            if len(page) < 5000:
                break
            after = page[-1].sequence


@audit.command("stats")
@json_option
@operator_option
def audit_stats(as_json: bool, operator: str | None) -> None:
    """Event counts by action and outcome, tree size and the latest checkpoint."""
    with operator_app("audit stats", operator) as (app, _):
        with app.store.read() as tx:
            counts = tx.audit_counts()
            size, _frontier = tx.audit_head()
            latest = tx.latest_checkpoint()
        body = {
            "tree_size": size,
            "latest_checkpoint": None if latest is None else {
                "tree_size": latest.tree_size, "root_hash": base64.b64encode(latest.root_hash).decode(),
                "time": latest.time.isoformat(), "key_id": latest.key_id},
            "counts": [{"action": a, "outcome": o, "count": n} for a, o, n in counts],
        }
        if as_json:
            click.echo(json.dumps(body))
            return
        table = Table(title=f"{size} events; latest checkpoint at "
                            f"{latest.tree_size if latest else 'none'}")
        for column in ("action", "outcome", "count"):
            table.add_column(column)
        for a, o, n in counts:
            table.add_row(a, o, str(n))
        console.print(table)


@audit.command("checkpoint")
@click.option("--export", "export_to", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write the latest checkpoint to this file (JSON), to keep outside the database: "
                   "`audit verify --against FILE` later proves the log was not rolled back past it.")
@operator_option
def audit_checkpoint(export_to: Path | None, operator: str | None) -> None:
    """Sign a checkpoint of the current tree now."""
    with operator_app("audit checkpoint", operator) as (app, _):
        cp = app.audit.checkpoint()
        click.echo("nothing new to sign" if cp is None else f"signed checkpoint at size {cp.tree_size} ({cp.key_id})")
        if export_to is not None:
            latest = app.audit.latest_checkpoint()
            export_to.write_text(json.dumps(latest.to_json()) + "\n")
            click.echo(f"checkpoint at size {latest.tree_size} written to {export_to}: keep it outside this database")


@click.group()
def subjects() -> None:
    """People whose likeness is enrolled."""


@subjects.command("show", cls=IdArgumentCommand)
@click.argument("subject_id")
@json_option
@operator_option
def subjects_show(subject_id: str, as_json: bool, operator: str | None) -> None:
    """Enrollment state and the latest audit events about a subject (never templates)."""
    with operator_app("subjects show", operator, subject=subject_id) as (app, _):
        _domain_call(lambda: _show(app, subject_id, as_json))


def _show(app: App, subject_id: str, as_json: bool) -> None:
    view = app.enrollments.get(subject_id)
    with app.store.read() as tx:
        events = tx.list_audit(AuditFilter(subject_id=subject_id), after_sequence=None, limit=20, descending=True)
    record = view.record
    body = {
        "subject_id": record.subject_id, "state": "expired" if view.expired else record.status.value,
        "create_time": record.create_time.isoformat(), "update_time": record.update_time.isoformat(),
        "template_models": list(record.template_models),
    }
    if as_json:
        click.echo(json.dumps({**body, "recent_events": [event_dict(e) for e in events]}))
        return
    print_fields(body)
    click.echo("")
    print_events(events, False)


@subjects.command("erase", cls=IdArgumentCommand)
@click.argument("subject_id")
@click.option("--yes", is_flag=True, help="Confirm: erasure is irreversible.")
@operator_option
def subjects_erase(subject_id: str, yes: bool, operator: str | None) -> None:
    """Erase a subject: enrollment, sessions, templates, and the payload of their audit events."""
    if not yes:
        click.echo("erasure is irreversible: repeat with --yes", err=True)
        sys.exit(2)
    with operator_app("subjects erase", operator, subject=subject_id) as (app, actor):
        destroyed = _domain_call(lambda: app.enrollments.delete_subject(subject_id, actor=actor))
        click.echo(f"erased {subject_id}: {destroyed} templates destroyed")


@click.group("signing-keys")
def signing_keys() -> None:
    """Ed25519 keys that sign audit checkpoints and use tokens."""


@signing_keys.command("list")
@json_option
@operator_option
def signing_keys_list(as_json: bool, operator: str | None) -> None:
    """Key ids, status and creation time (never key material)."""
    with operator_app("signing-keys list", operator) as (app, _):
        rows = [{"kid": k.kid, "status": k.status.value, "created": k.created.isoformat()} for k in app.keyring.keys]
        if as_json:
            click.echo(json.dumps(rows))
            return
        table = Table()
        for column in ("kid", "status", "created"):
            table.add_column(column)
        for row in rows:
            table.add_row(row["kid"], row["status"], row["created"])
        console.print(table)


@signing_keys.command("rotate")
@operator_option
def signing_keys_rotate(operator: str | None) -> None:
    """Make a new active key; the old one keeps verifying what it signed."""
    with operator_app("signing-keys rotate", operator) as (app, actor):
        key = app.keyring.rotate()
        app.audit.record_now(actor.draft("keys.signing.rotate", Outcome.SUCCESS, details={"kid": key.kid}))
        click.echo(f"new active signing key {key.kid}")


@signing_keys.command("retire", cls=IdArgumentCommand)
@click.argument("kid")
@operator_option
def signing_keys_retire(kid: str, operator: str | None) -> None:
    """Stop trusting a rotated-out key (checkpoints it signed will then fail verification)."""
    with operator_app("signing-keys retire", operator, kid=kid) as (app, actor):
        try:
            app.keyring.retire(kid)
        except (KeyError, ValueError) as exc:
            click.echo(f"cannot retire {kid}: {exc}", err=True)
            sys.exit(1)
        app.audit.record_now(actor.draft("keys.signing.retire", Outcome.SUCCESS, details={"kid": kid}))
        click.echo(f"retired {kid}")


@click.group("keys")
def template_keys() -> None:
    """Key encryption keys that wrap each subject's template data key."""


@template_keys.command("list")
@json_option
@operator_option
def template_keys_list(as_json: bool, operator: str | None) -> None:
    """Key ids, state and how many subjects' data keys each wraps (never key material)."""
    from identity_service.vault.keys import StaticKeyring
    from identity_service.vault.rotation import keys_in_use

    with operator_app("keys list", operator) as (app, _):
        used = keys_in_use(app.store)
        keys = app.vault.keys
        rows = [{"kid": k.kid, "state": k.state, "created": k.create_time, "subjects": used.get(k.kid, 0)}
                for k in (keys.keys() if isinstance(keys, StaticKeyring) else [])]
        orphans = sorted(set(used) - {r["kid"] for r in rows})
        if as_json:
            click.echo(json.dumps({"keys": rows, "missing_keys": orphans}))
            return
        table = Table()
        for column in ("kid", "state", "created", "subjects"):
            table.add_column(column)
        for row in rows:
            table.add_row(str(row["kid"]), str(row["state"]), str(row["created"]), str(row["subjects"]))
        console.print(table)
        if orphans:
            click.echo(f"data keys wrapped by keys not in the keyring: {', '.join(orphans)}", err=True)
            sys.exit(1)


@template_keys.command("rotate")
@operator_option
def template_keys_rotate(operator: str | None) -> None:
    """A new active KEK, then every data key re-wrapped under it; old keys unwrap until retired."""
    from identity_service.vault.keys import FileKeyring
    from identity_service.vault.rotation import rewrap_all
    from identity_service.vault.vault import TemplateVault

    with operator_app("keys rotate", operator) as (app, actor):
        keyring = app.vault.keys
        if not isinstance(keyring, FileKeyring):
            click.echo("keys come from LIKENESS_TEMPLATE_KEYS: put a new key first there, restart, then run "
                       "`identity-service keys rewrap`", err=True)
            sys.exit(2)
        rotated = keyring.rotated()
        rotated.save()
        moved = rewrap_all(app.store, TemplateVault(rotated))
        app.audit.record_now(actor.draft("keys.template.rotate", Outcome.SUCCESS,
                                         details={"kid": rotated.active_kid(), "rewrapped": str(moved)}))
        click.echo(f"new active key {rotated.active_kid()}; {moved} data keys re-wrapped")


@template_keys.command("rewrap")
@operator_option
def template_keys_rewrap(operator: str | None) -> None:
    """Re-wrap data keys still under an older KEK (after changing LIKENESS_TEMPLATE_KEYS)."""
    from identity_service.vault.rotation import rewrap_all

    with operator_app("keys rewrap", operator) as (app, actor):
        moved = rewrap_all(app.store, app.vault)
        app.audit.record_now(actor.draft("keys.template.rewrap", Outcome.SUCCESS, details={"rewrapped": str(moved)}))
        click.echo(f"{moved} data keys re-wrapped under {app.vault.keys.active_kid()}")


@template_keys.command("retire", cls=IdArgumentCommand)
@click.argument("kid")
@operator_option
def template_keys_retire(kid: str, operator: str | None) -> None:
    """Destroy a rotated-out KEK. Refused while any data key is still wrapped by it."""
    from identity_service.vault.keys import FileKeyring, KeyUnavailable
    from identity_service.vault.rotation import keys_in_use

    with operator_app("keys retire", operator, kid=kid) as (app, actor):
        keyring = app.vault.keys
        if not isinstance(keyring, FileKeyring):
            click.echo("keys come from LIKENESS_TEMPLATE_KEYS: remove the key there", err=True)
            sys.exit(2)
        still = keys_in_use(app.store).get(kid, 0)
        if still:
            click.echo(f"cannot retire {kid}: {still} data keys are still wrapped by it; run `keys rewrap`", err=True)
            sys.exit(1)
        try:
            keyring.without(kid).save()
        except (KeyUnavailable, ValueError) as exc:
            click.echo(f"cannot retire {kid}: {exc}", err=True)
            sys.exit(1)
        app.audit.record_now(actor.draft("keys.template.retire", Outcome.SUCCESS, details={"kid": kid}))
        click.echo(f"retired {kid}")


def _domain_call(call: Callable[[], T]) -> T:
    try:
        return call()
    except DomainError as error:
        click.echo(f"{error.message} ({error.reason})", err=True)
        sys.exit(1)
