"""The `identity-service` command: serve, config, db, callers.

Exit codes: 0 success, 1 a check failed (e.g. verification), 2 bad usage or configuration.
"""

from __future__ import annotations

import importlib
import json
import secrets
import sys
from typing import TYPE_CHECKING, Any

import click

from identity_service.cli_ids import IdArgumentCommand

if TYPE_CHECKING:
    from identity_service.settings import Settings

# This module imports click and the standard library only: `--help` and every command that does
# not open the database answer without loading pydantic, SQLAlchemy, alembic or the models. Each
# command imports what it uses; the operator commands load with their group.


def load_settings() -> Settings:
    from identity_service.settings import load_settings as load

    return load()


def configure(log_format: object, level: str) -> None:
    from identity_service.logs import configure as setup

    setup(log_format, level)  # type: ignore[arg-type]


def Console(**options: Any) -> Any:
    from rich.console import Console as RichConsole

    return RichConsole(**options)


def Table(**options: Any) -> Any:
    from rich.table import Table as RichTable

    return RichTable(**options)


class LazyGroup(click.Group):
    """A group whose operator subcommands are imported only when one is run (or its own help
    shown); the top-level help lists them from their one-line summaries here."""

    LAZY = {
        "audit": ("identity_service.operator_cli", "audit", "The tamper-evident audit log."),
        "subjects": ("identity_service.operator_cli", "subjects", "People whose likeness is enrolled."),
        "signing-keys": ("identity_service.operator_cli", "signing_keys",
                         "Ed25519 keys that sign audit checkpoints and use tokens."),
        "keys": ("identity_service.operator_cli", "template_keys",
                 "Key encryption keys that wrap each subject's template data key."),
    }

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *self.LAZY])

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in self.LAZY:
            module, attribute, _ = self.LAZY[name]
            command = getattr(importlib.import_module(module), attribute)
            assert isinstance(command, click.Command)
            return command
        return super().get_command(ctx, name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = []
        for name in self.list_commands(ctx):
            if name in self.LAZY:
                rows.append((name, self.LAZY[name][2]))
                continue
            command = super().get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(formatter.width - 6 - len(name))))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


@click.group(cls=LazyGroup)
@click.version_option(package_name="likeness-consent")
def main() -> None:
    """Likeness consent service: enrollment, cameo grants and audit over gRPC."""


@main.command()
@click.option("--address", default=None, help="Override LIKENESS_LISTEN_ADDRESS, e.g. 0.0.0.0:50051.")
def serve(address: str | None) -> None:
    """Start the gRPC server (migrates SQLite first) and run until SIGTERM."""
    settings = load_settings()
    if address:
        settings = settings.model_copy(update={"listen_address": address})
    configure(settings.log_format, settings.log_level)
    from identity_service.runtime import serve as run
    from identity_service.wiring import build_app, load_biometrics, load_recording_analyzer
    from kernel.errors import ModelsUnavailable

    try:
        biometrics = load_biometrics(settings)
        analyzer = load_recording_analyzer(settings, biometrics)
    except ModelsUnavailable as exc:
        click.echo(f"cannot start: model files in {settings.resolved_model_dir()} are missing or altered:", err=True)
        for problem in exc.metadata["problems"].split("; "):
            click.echo(f"  {problem}", err=True)
        click.echo("fix: run `identity-service models pull` (LIKENESS_MODEL_DIR says where they go)", err=True)
        sys.exit(2)
    run(build_app(settings, biometrics=biometrics, analyzer=analyzer))


@main.command("user-api")
@click.option("--address", default=None, help="Override LIKENESS_USER_API_LISTEN_ADDRESS, e.g. 0.0.0.0:8080.")
def user_api(address: str | None) -> None:
    """Serve only the user-facing HTTP API (no gRPC, no models) until SIGTERM."""
    settings = load_settings()
    if address:
        settings = settings.model_copy(update={"user_api_listen_address": address})
    configure(settings.log_format, settings.log_level)
    if not settings.user_api_enabled():
        click.echo("the user API needs LIKENESS_USER_TOKEN_JWKS_FILE or LIKENESS_USER_TOKEN_PUBLIC_KEY_FILE and "
                   "LIKENESS_USER_API_LISTEN_ADDRESS", err=True)
        sys.exit(2)
    from identity_service.userapi.server import serve_user_api
    from identity_service.wiring import build_app

    serve_user_api(build_app(settings))


@main.command(cls=IdArgumentCommand)
@click.argument("subject_id")
@click.argument("video", type=click.Path(exists=True, dir_okay=False))
@click.option("--audio", type=click.Path(exists=True, dir_okay=False), default=None,
              help="A separate audio track (.wav or .flac).")
@click.option("--target", default=None, help="host:port of the service (default LIKENESS_LISTEN_ADDRESS).")
@click.option("--token", envvar="LIKENESS_CLIENT_TOKEN", required=True,
              help="Bearer token of a caller with the app or admin role (env LIKENESS_CLIENT_TOKEN).")
@click.option("--reenroll", is_flag=True, help="Replace an active enrollment.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def enroll(subject_id: str, video: str, audio: str | None, target: str | None, token: str, reenroll: bool,
           as_json: bool) -> None:
    """Enroll SUBJECT_ID from a recording file over gRPC (operators and demos): prints the
    challenge, then every liveness check. Exit 0 when enrolled, 1 when refused."""
    import grpc

    from identity_service.client import enroll_file, error_details
    from likeness.identity.v1 import identity_service_pb2 as pb

    address = target or load_settings().listen_address
    with grpc.insecure_channel(address) as channel:
        try:
            session, result = enroll_file(channel, subject_id, video, token=token, audio_path=audio,
                                          reenroll=reenroll)
        except grpc.RpcError as error:
            details = error_details(error)
            click.echo(f"refused: {details.code.name} {details.reason}: {details.message}", err=True)
            sys.exit(1)
        except ValueError as error:
            click.echo(str(error), err=True)
            sys.exit(2)
    state = pb.EnrollmentState.Name(result.state)  # type: ignore[attr-defined]
    checks = [{"check": pb.LivenessCheckKind.Name(c.kind).removeprefix("LIVENESS_CHECK_KIND_").lower(),
               "score": round(c.score, 3), "threshold": round(c.threshold, 3), "passed": c.passed,
               "required": c.required, "reason": c.reason} for c in result.checks]  # type: ignore[attr-defined]
    challenge = session.challenge  # type: ignore[attr-defined]
    if as_json:
        click.echo(json.dumps({"subject_id": subject_id, "state": state, "checks": checks,
                               "challenge": {"digits": challenge.digits,
                                             "head_turns": [pb.HeadTurn.Name(t) for t in challenge.head_turns]}}))
    else:
        turns = " ".join(pb.HeadTurn.Name(t).removeprefix("HEAD_TURN_").lower() for t in challenge.head_turns)
        click.echo(f"challenge: say {challenge.digits}, turn {turns}")
        table = Table(title=f"{subject_id}: {state}")
        for column in ("check", "score", "threshold", "passed", "required", "reason"):
            table.add_column(column)
        for c in checks:
            table.add_row(*(str(c[k]) for k in ("check", "score", "threshold", "passed", "required", "reason")))
        Console().print(table)
    sys.exit(0 if state == "ENROLLMENT_STATE_ACTIVE" else 1)


@main.group()
def models() -> None:
    """Model files: list them with their licences, pull them, verify them."""


@models.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def models_list(as_json: bool) -> None:
    """Every model: role, files, licence, where it comes from, and whether it is here and intact."""
    from identity_service.inference.manifest import MODELS
    from identity_service.inference.store import verify

    settings = load_settings()
    model_dir = settings.resolved_model_dir()
    problems = {(p.model, p.file): p.problem for p in verify(model_dir, deep=False)}
    rows: list[dict[str, Any]] = []
    for spec in MODELS:
        files = [f.name for f in spec.files] + list(spec.derived)
        bad = [f"{f}: {problems[(spec.name, f)]}" for f in files if (spec.name, f) in problems]
        rows.append({"name": spec.name, "role": spec.role, "files": files, "licence": spec.licence,
                     "sources": [s.describe(settings.model_source_dir) for s in spec.sources],
                     "status": "; ".join(bad) or "present"})
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    table = Table(title=f"models in {model_dir}")
    for column in ("name", "role", "licence", "status", "sources"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(row["name"], row["role"], row["licence"], row["status"], "\n".join(row["sources"]))
    Console().print(table)


@models.command("pull")
def models_pull() -> None:
    """Fetch every model file from the first source that has it, check its SHA-256, and export the
    voice model to ONNX. Safe to run again: present, intact files are kept."""
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn

    from identity_service.inference.store import pull

    settings = load_settings()
    configure(settings.log_format, "warning")
    model_dir = settings.resolved_model_dir()
    source_dir = settings.model_source_dir if settings.model_source_dir and settings.model_source_dir.is_dir() else None
    with Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
                  console=Console(stderr=True), transient=True) as bar:
        tasks: dict[str, object] = {}

        def progress(label: str, done: int, total: int) -> None:
            if label not in tasks:
                tasks[label] = bar.add_task(label, total=total or None)
            bar.update(tasks[label], completed=done)  # type: ignore[arg-type]

        try:
            lines = pull(model_dir, source_dir=source_dir, progress=progress)
        except RuntimeError as exc:
            click.echo(f"models pull failed: {exc}", err=True)
            sys.exit(1)
    for line in lines:
        click.echo(line)
    click.echo(f"models ready in {model_dir}", err=True)


@models.command("verify")
def models_verify() -> None:
    """Check every model file against the manifest's SHA-256; exit 1 naming any missing or altered."""
    from identity_service.inference.store import verify

    settings = load_settings()
    problems = verify(settings.resolved_model_dir())
    for problem in problems:
        click.echo(str(problem), err=True)
    if problems:
        click.echo("fix: run `identity-service models pull`", err=True)
        sys.exit(1)
    click.echo(f"all model files intact in {settings.resolved_model_dir()}")


@main.group()
def config() -> None:
    """Inspect configuration."""


@config.command("show")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def config_show(as_json: bool) -> None:
    """Print every setting: value (secrets redacted), env var, default and meaning."""
    from identity_service.settings import describe

    rows = describe(load_settings())
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    table = Table(title="likeness settings")
    for column in ("key", "value", "env", "description"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(row["key"], row["value"], row["env"], row["description"])
    Console().print(table)


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
def db_upgrade(revision: str) -> None:
    """Apply migrations to LIKENESS_DATABASE_URL (SQLite by default)."""
    from identity_service.storage import migrate
    from identity_service.storage.engine import make_engine

    settings = load_settings()
    configure(settings.log_format, settings.log_level)
    engine = make_engine(settings.resolved_database_url())
    migrate.upgrade(engine, revision)
    click.echo(f"database at revision {migrate.current_revision(engine)}")
    engine.dispose()


@db.command("current")
def db_current() -> None:
    """Print the schema revision of the database and the one the code needs."""
    from identity_service.storage import migrate
    from identity_service.storage.engine import make_engine

    engine = make_engine(load_settings().resolved_database_url())
    current = migrate.current_revision(engine)
    head = migrate.head_revision()
    click.echo(f"database: {current or 'empty'}\ncode:     {head}")
    engine.dispose()
    sys.exit(0 if current == head else 1)


@main.group()
def callers() -> None:
    """Backend services allowed to call the API."""


@callers.command("new")
@click.argument("name")
@click.option("--role", "roles", multiple=True, required=True,
              help="admin, app, generator, scanner, social_graph or auditor; repeatable.")
def callers_new(name: str, roles: tuple[str, ...]) -> None:
    """Make a bearer token for NAME: prints the token once and the entry for LIKENESS_CALLERS."""
    from identity_service.transport.auth import Role, hash_token

    valid = {r.value for r in Role}
    unknown = [r for r in roles if r not in valid]
    if unknown:
        raise click.BadParameter(f"unknown role(s) {unknown}; choose from {sorted(valid)}")
    token = secrets.token_urlsafe(32)
    entry = {"name": name, "roles": list(roles), "token_sha256": hash_token(token)}
    click.echo(f"token (give it to {name}; it is not stored anywhere): {token}", err=True)
    click.echo(json.dumps(entry))




if __name__ == "__main__":
    main()
