"""The user API's routes. Every route acts for the user in the access token and only on that user's
own data: the path names the subject (or ``me``), and any other subject is refused with 403.

No ``from __future__ import annotations`` here: FastAPI reads the route signatures at definition
time, and the dependency aliases live in the factory's scope.
"""

import importlib.util
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path as FilePath
from typing import Annotated, Any

import structlog
from fastapi import Depends, FastAPI, Header, Path, Query, Request, Response, Security
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from auditlog.model import Actor, ActorType, Outcome
from auditlog.ports import AuditFilter
from consent.model import GrantState
from identity_service import metrics
from identity_service.userapi import problems
from identity_service.userapi.auth import UserPrincipal, UserTokenVerifier
from identity_service.userapi.enrollment_routes import add_enrollment_routes, recording_body_limit
from identity_service.userapi.guard import RequestGuard
from identity_service.userapi.ratelimit import RateLimiter
from identity_service.userapi.schemas import (
    GRANT_ID_PATTERN,
    SUBJECT_ID_PATTERN,
    ActivityOut,
    ApprovalIn,
    BlocksOut,
    CameoPolicyIn,
    CameoPolicyOut,
    EnrollmentOut,
    ErasureOut,
    ExportOut,
    GrantOut,
    GrantPage,
    RelationshipOut,
    UseDecision,
    UsePage,
    activity_out,
    grant_out,
    policy_out,
    use_out,
)
from identity_service.validation import decode_page_token, page_of, page_size
from identity_service.wiring import App
from kernel.clock import utc_now
from kernel.errors import (
    ConfirmationRequired,
    DomainError,
    EnrollmentNotFound,
    FieldInvalid,
    NotOwner,
    PolicyConflict,
    UserTokenInvalid,
)

log = structlog.get_logger(__name__)

USE_ACTION = "consent.permission.check"
MAX_POLICY_RETRIES = 5
MAX_EXPORT_ITEMS = 100_000

_PROBLEM = {"model": problems.Problem, "content": {problems.PROBLEM_MEDIA_TYPE: {}}}
# Every route can answer these; each route adds its own.
COMMON_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {**_PROBLEM, "description": "A field or parameter is invalid; `metadata.field` names it."},
    401: {**_PROBLEM, "description": "The access token is missing or not acceptable; `metadata.problem` says why."},
    403: {**_PROBLEM, "description": "The path names another user's data."},
    429: {**_PROBLEM, "description": "Too many requests; honour Retry-After."},
    500: {**_PROBLEM, "description": "Unexpected failure; quote `request_id`."},
    503: {**_PROBLEM, "description": "Storage is unavailable; retry with backoff."},
}


def _errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    descriptions = {
        404: "No such thing for this user.", 409: "The thing is not in a state that allows this.",
        412: "If-Match does not match the current etag; read again and retry.",
        413: "The body is larger than this route takes; `metadata.limit_bytes` says how large it may be.",
    }
    return {**COMMON_ERRORS, **{s: {**_PROBLEM, "description": descriptions[s]} for s in statuses
                                if s in descriptions}}


SubjectPath = Annotated[
    str, Path(pattern=SUBJECT_ID_PATTERN, description="Your own subject id, or `me`.", examples=["me"])
]
GrantPath = Annotated[str, Path(pattern=GRANT_ID_PATTERN, description="The grant's id (16 hex digits).")]
PageSize = Annotated[int, Query(ge=0, le=100_000, description="At most this many; 0 means the default.")]
PageToken = Annotated[str, Query(max_length=512, description="next_page_token of the previous page.")]


DOCS_ASSETS = "/docs/assets"


def docs_assets() -> FilePath:
    """The folder of Swagger UI's and ReDoc's files in the fastapi-offline package (found without
    importing it: only its static files are used)."""
    spec = importlib.util.find_spec("fastapi_offline")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("fastapi-offline is not installed: run scripts/setup.sh")
    return FilePath(spec.submodule_search_locations[0]) / "static"


def create_user_api(app: App, verifier: UserTokenVerifier, limiter: RateLimiter | None = None) -> FastAPI:
    """The FastAPI application over the shared domain services in ``app``."""
    settings = app.settings
    limiter = limiter or RateLimiter(rate_per_second=settings.user_api_rate_per_second,
                                     burst=settings.user_api_rate_burst)
    # Failed authentications are limited per client address, so token guessing (and the audit
    # events each failure writes) cannot be driven at full speed.
    auth_failures = RateLimiter(rate_per_second=1.0, burst=settings.user_api_auth_failure_burst)
    api = FastAPI(
        title="Likeness consent: user API",
        version="1.0.0",
        description="See and change who may use your likeness, revoke, and erase your biometric data. "
        "Authenticate with the app's access token: `Authorization: Bearer <JWT>`. Errors are RFC 9457 "
        "problem details with a stable `reason`.",
        docs_url=None, redoc_url=None,
    )
    # Swagger UI and ReDoc from a package's own copy (fastapi-offline's static files), not a CDN:
    # the docs work on a machine, or in a cluster, that reaches no CDN.
    api.mount(DOCS_ASSETS, StaticFiles(directory=str(docs_assets())), name="docs-assets")
    openapi_url = api.openapi_url or "/openapi.json"

    @api.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url=openapi_url, title=f"{api.title}: docs",
                                   swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
                                   swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css", swagger_favicon_url="data:,")

    @api.get("/redoc", include_in_schema=False)
    def redoc() -> HTMLResponse:
        return get_redoc_html(openapi_url=openapi_url, title=f"{api.title}: reference",
                              redoc_js_url=f"{DOCS_ASSETS}/redoc.standalone.js", redoc_favicon_url="data:,",
                              with_google_fonts=False)
    bearer = HTTPBearer(auto_error=False, description="The app's user access token (JWT).")

    def size_of(value: int) -> int:
        return page_size(value, default=settings.default_page_size, maximum=settings.max_page_size)

    # --- plumbing ---------------------------------------------------------------------------

    def problem_response(problem: problems.Problem, headers: dict[str, str] | None = None) -> JSONResponse:
        return JSONResponse(problem.model_dump(), status_code=problem.status, headers=headers,
                            media_type=problems.PROBLEM_MEDIA_TYPE)

    def request_id_of(request: Request) -> str:
        return str(getattr(request.state, "request_id", ""))

    def _internal(request: Request, request_id: str) -> problems.Problem:
        return problems.make(500, "ERROR_REASON_INTERNAL", f"internal error; quote request_id {request_id}",
                             instance=request.url.path, request_id=request_id, metadata={"request_id": request_id})

    @api.exception_handler(DomainError)
    async def on_domain_error(request: Request, error: DomainError) -> JSONResponse:
        return domain_error_response(request, error)

    def domain_error_response(request: Request, error: DomainError) -> JSONResponse:
        headers: dict[str, str] = {}
        if error.metadata.get("retry_after_seconds", "").isdigit():  # rate limits, busy servers, outages
            headers["Retry-After"] = error.metadata["retry_after_seconds"]
        if error.kind.value == "unauthenticated":
            headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
        problem = problems.from_domain(error, instance=request.url.path, request_id=request_id_of(request))
        return problem_response(problem, headers)

    @api.exception_handler(RequestValidationError)
    async def on_validation_error(request: Request, error: RequestValidationError) -> JSONResponse:
        first = error.errors()[0] if error.errors() else {"loc": ("body",), "msg": "invalid"}
        field = ".".join(str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path", "header"))
        constraint = str(first.get("msg", "invalid"))
        domain = FieldInvalid(field or "body", constraint)
        problem = problems.from_domain(domain, instance=request.url.path, request_id=request_id_of(request))
        return problem_response(problem)

    @api.exception_handler(StarletteHTTPException)
    async def on_http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        reason = {404: "ERROR_REASON_ROUTE_NOT_FOUND", 405: "ERROR_REASON_METHOD_NOT_ALLOWED"}.get(
            error.status_code, "ERROR_REASON_UNSPECIFIED")
        problem = problems.make(error.status_code, reason, str(error.detail), instance=request.url.path,
                                request_id=request_id_of(request))
        headers = dict(error.headers or {})
        if error.status_code == 405:
            # Starlette names only the first route that matched the path; several routes (GET and
            # PUT of one resource) share a path, and Allow must list every method it has.
            methods = {m for r in api.routes if isinstance(r, APIRoute) and r.path_regex.match(request.url.path)
                       for m in r.methods or ()}
            headers["Allow"] = ", ".join(sorted(methods))
        return problem_response(problem, headers)

    # --- who is calling -----------------------------------------------------------------------

    def authenticate(request: Request) -> UserPrincipal:
        values = request.headers.getlist("authorization")
        try:
            if len(values) > 1:  # which one a proxy or framework reads differs: refuse, never pick
                raise UserTokenInvalid("send exactly one Authorization header")
            user = verifier.verify(values[0] if values else None)
        except DomainError as error:
            peer = request.client.host if request.client else "unknown"
            auth_failures.take(f"ip:{peer}")
            app.record_auth_failure(method=f"HTTP {request.method} {request.url.path}", caller="user",
                                    reason=error.metadata.get("problem", error.reason),
                                    request_id=request_id_of(request), peer=peer)
            raise
        request.state.principal = user
        request.state.user = user.subject_id
        return user

    async def authenticate_before_body(request: Request) -> None:
        await run_in_threadpool(authenticate, request)  # the audit write of a failure blocks

    # Registered before the access log below, so it runs inside it: refusals are logged, counted
    # and carry the request id like every other response.
    api.add_middleware(RequestGuard, max_body_bytes=settings.user_api_max_body_bytes, protected_prefix="/v1/",
                       authenticate=authenticate_before_body, render=domain_error_response,
                       body_limit=recording_body_limit(settings.enroll_max_bytes, settings.user_api_max_body_bytes))

    @api.middleware("http")
    async def access_log(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        given = request.headers.get("x-request-id", "")
        request_id = given if given and len(given) <= 128 and given.isprintable() else uuid.uuid4().hex
        request.state.request_id = request_id
        started = time.perf_counter()
        try:
            response = await call_next(request)
        except Exception:
            log.exception("user_api_unhandled", request_id=request_id, path=request.url.path)
            response = problem_response(_internal(request, request_id))
        response.headers["x-request-id"] = request_id
        route = request.scope.get("route")
        template = getattr(route, "path", "unmatched")  # never the raw path: it would explode label counts
        metrics.HTTP_CALLS.labels(template, request.method, str(response.status_code)).inc()
        metrics.HTTP_LATENCY.labels(template, request.method).observe(time.perf_counter() - started)
        log.info("http", method=request.method, route=getattr(route, "path", request.url.path),
                 status=response.status_code, user=getattr(request.state, "user", ""), request_id=request_id,
                 duration_ms=round((time.perf_counter() - started) * 1000, 3))
        return response

    def current_user(
        request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)],
    ) -> UserPrincipal:
        user = getattr(request.state, "principal", None)
        if not isinstance(user, UserPrincipal):
            user = authenticate(request)
        limiter.take(f"user:{user.subject_id}")
        return user

    def owner(subject_id: SubjectPath, user: Annotated[UserPrincipal, Depends(current_user)]) -> str:
        """The subject the path names, which must be the caller."""
        if subject_id not in ("me", user.subject_id):
            raise NotOwner(subject_id)
        return user.subject_id

    def actor(request: Request, user: Annotated[UserPrincipal, Depends(current_user)]) -> Actor:
        return Actor(ActorType.USER, user.subject_id, request_id_of(request))

    Owner = Annotated[str, Depends(owner)]
    UserActor = Annotated[Actor, Depends(actor)]
    add_enrollment_routes(api, app, owner, actor, _errors)

    # --- routes -------------------------------------------------------------------------------

    @api.get("/healthz", tags=["health"], summary="Liveness of the HTTP server and its database.",
             responses={503: COMMON_ERRORS[503]})
    def healthz() -> dict[str, str]:
        app.store.ping()
        return {"status": "serving"}

    @api.get("/v1/subjects/{subject_id}/cameo-policy", response_model=CameoPolicyOut, tags=["policy"],
             summary="Read my cameo policy.", responses=_errors())
    def get_policy(subject: Owner, response: Response) -> CameoPolicyOut:
        policy = app.consent.get_policy(subject)
        response.headers["ETag"] = f'"{policy.version}"'
        return policy_out(policy)

    @api.put("/v1/subjects/{subject_id}/cameo-policy", response_model=CameoPolicyOut, tags=["policy"],
             summary="Replace my cameo policy (blocks are kept).", responses=_errors(412))
    def put_policy(
        subject: Owner, body: CameoPolicyIn, who: UserActor, response: Response,
        if_match: Annotated[str | None, Header(max_length=64, description="The etag you read.")] = None,
    ) -> CameoPolicyOut:
        current = app.consent.get_policy(subject)
        etag = (if_match or "").strip().removeprefix("W/").strip('"')
        new = replace(current, audience=body.audience, refused_categories=frozenset(body.refused_categories),
                      instructions=body.instructions, public_figure=body.public_figure)
        # Without If-Match the read-modify-write is still atomic: the etag read above is checked
        # in the write transaction, so a concurrent block is never silently undone.
        updated = app.consent.update_policy(new, etag=etag or str(current.version), actor=who)
        response.headers["ETag"] = f'"{updated.version}"'
        return policy_out(updated)

    @api.get("/v1/subjects/{subject_id}/grants", response_model=GrantPage, tags=["grants"],
             summary="List my grants, newest id order is stable across pages.", responses=_errors())
    def list_grants(
        subject: Owner, state: Annotated[GrantState | None, Query()] = None, page_size: PageSize = 0,
        page_token: PageToken = "",
    ) -> GrantPage:
        filters: dict[str, object] = {"p": subject, "s": state.value if state else ""}
        after = decode_page_token(page_token, filters) or ""
        size = size_of(page_size)
        rows = app.consent.list_grants(subject, state=state, after_grant_id=str(after), limit=size + 1)
        page, token = page_of(rows, size, lambda g: g.grant_id, filters)
        now = utc_now()
        return GrantPage(grants=[grant_out(g, now) for g in page], next_page_token=token)

    @api.post("/v1/subjects/{subject_id}/grants", response_model=GrantOut, status_code=201, tags=["grants"],
              summary="Approve one person to use my likeness.", responses=_errors())
    def create_approval(subject: Owner, body: ApprovalIn, who: UserActor, response: Response) -> GrantOut:
        grant = app.consent.create_grant(subject, grantee_id=body.grantee_id, audience=None,
                                         start_time=body.start_time, end_time=body.end_time, actor=who)
        response.headers["Location"] = f"/v1/subjects/{subject}/grants/{grant.grant_id}"
        return grant_out(grant, utc_now())

    @api.get("/v1/subjects/{subject_id}/grants/{grant_id}", response_model=GrantOut, tags=["grants"],
             summary="Read one of my grants.", responses=_errors(404))
    def get_grant(subject: Owner, grant_id: GrantPath) -> GrantOut:
        return grant_out(app.consent.get_grant(subject, grant_id), utc_now())

    @api.post("/v1/subjects/{subject_id}/grants/{grant_id}/revoke", response_model=GrantOut, tags=["grants"],
              summary="Revoke a grant: the next permission check is denied, outstanding tokens are voided.",
              responses=_errors(404, 409))
    def revoke_grant(subject: Owner, grant_id: GrantPath, who: UserActor) -> GrantOut:
        return grant_out(app.consent.revoke_grant(subject, grant_id, actor=who), utc_now())

    @api.get("/v1/subjects/{subject_id}/blocks", response_model=BlocksOut, tags=["blocks"],
             summary="People who may never use my likeness.", responses=_errors())
    def list_blocks(subject: Owner) -> BlocksOut:
        return BlocksOut(blocked_ids=sorted(app.consent.get_policy(subject).blocked_ids))

    def change_blocks(subject: str, person_id: str, block: bool, who: Actor) -> BlocksOut:
        if person_id == subject:
            raise FieldInvalid("person_id", "you cannot block yourself")
        for _ in range(MAX_POLICY_RETRIES):
            current = app.consent.get_policy(subject)
            blocked = current.blocked_ids | {person_id} if block else current.blocked_ids - {person_id}
            if blocked == current.blocked_ids:
                return BlocksOut(blocked_ids=sorted(blocked))
            try:
                updated = app.consent.update_policy(replace(current, blocked_ids=frozenset(blocked)),
                                                    etag=str(current.version), actor=who)
            except PolicyConflict:
                continue  # another change landed between read and write: read again
            return BlocksOut(blocked_ids=sorted(updated.blocked_ids))
        raise PolicyConflict(subject)

    PersonPath = Annotated[str, Path(pattern=SUBJECT_ID_PATTERN, description="The person to (un)block.")]

    @api.put("/v1/subjects/{subject_id}/blocks/{person_id}", response_model=BlocksOut, tags=["blocks"],
             summary="Block a person: they are denied whatever else allows them.", responses=_errors(409))
    def block(subject: Owner, person_id: PersonPath, who: UserActor) -> BlocksOut:
        return change_blocks(subject, person_id, True, who)

    @api.delete("/v1/subjects/{subject_id}/blocks/{person_id}", response_model=BlocksOut, tags=["blocks"],
                summary="Unblock a person.", responses=_errors(409))
    def unblock(subject: Owner, person_id: PersonPath, who: UserActor) -> BlocksOut:
        return change_blocks(subject, person_id, False, who)

    @api.get("/v1/subjects/{subject_id}/uses", response_model=UsePage, tags=["uses"],
             summary="Who asked to use my likeness, when, for what, and whether it was allowed; newest first.",
             responses=_errors())
    def list_uses(
        subject: Owner, decision: Annotated[UseDecision | None, Query(description="Only allowed or only denied uses.")]
        = None, page_size: PageSize = 0, page_token: PageToken = "",
    ) -> UsePage:
        outcome = Outcome(decision.value) if decision else None
        filters: dict[str, object] = {"p": subject, "d": decision.value if decision else ""}
        after = decode_page_token(page_token, filters)
        if after is not None and not isinstance(after, int):
            raise FieldInvalid("page_token", "not a token of this list")
        size = size_of(page_size)
        with app.store.read() as tx:
            rows = tx.list_audit(AuditFilter(subject_id=subject, action=USE_ACTION, outcome=outcome),
                                 after_sequence=after, limit=size + 1, descending=True)
        page, token = page_of(rows, size, lambda e: e.sequence, filters)
        return UsePage(uses=[use_out(e) for e in page], next_page_token=token)

    @api.delete("/v1/subjects/{subject_id}/enrollment", response_model=ErasureOut, tags=["erasure"],
                summary="Erase me: enrollment, biometric data, cameo policy, grants and relationships. Every token "
                        "issued for me is revoked. Irreversible; erasing again succeeds.", responses=_errors())
    def erase(
        subject: Owner, who: UserActor,
        confirm: Annotated[str, Query(max_length=64, description="Your subject id, typed back to confirm.")] = "",
    ) -> ErasureOut:
        if confirm != subject:
            raise ConfirmationRequired("confirm", "your subject id")
        destroyed = app.enrollments.delete_subject(subject, actor=who)
        return ErasureOut(subject_id=subject, erased=True, templates_destroyed=destroyed)

    @api.get("/v1/subjects/{subject_id}/export", response_model=ExportOut, tags=["export"],
             summary="Everything stored about me, except templates (never exported).", responses=_errors())
    def export(subject: Owner, who: UserActor) -> ExportOut:
        now = utc_now()
        try:
            view = app.enrollments.get(subject)
            record = view.record
            enrollment: EnrollmentOut | None = EnrollmentOut(
                state="expired" if view.expired else record.status.value, create_time=record.create_time,
                update_time=record.update_time, template_models=list(record.template_models))
        except EnrollmentNotFound:
            enrollment = None
        grants: list[GrantOut] = []
        after_grant = ""
        while len(grants) < MAX_EXPORT_ITEMS:
            batch = app.consent.list_grants(subject, state=None, after_grant_id=after_grant, limit=1000)
            grants.extend(grant_out(g, now) for g in batch)
            if len(batch) < 1000:
                break
            after_grant = batch[-1].grant_id
        edges: list[RelationshipOut] = []
        after_edge = ("", "")
        while len(edges) < MAX_EXPORT_ITEMS:
            edge_batch = app.consent.list_relationships(subject, after=after_edge, limit=1000)
            edges.extend(RelationshipOut(from_id=e.from_id, to_id=e.to_id, version=e.version) for e in edge_batch)
            if len(edge_batch) < 1000:
                break
            after_edge = (edge_batch[-1].from_id, edge_batch[-1].to_id)
        activity: list[ActivityOut] = []
        after_seq: int | None = None
        with app.store.read() as tx:
            while len(activity) < MAX_EXPORT_ITEMS:
                events = tx.list_audit(AuditFilter(subject_id=subject), after_sequence=after_seq, limit=1000,
                                       descending=True)
                activity.extend(activity_out(e) for e in events)
                if len(events) < 1000:
                    break
                after_seq = events[-1].sequence
        app.audit.record_committed(who.draft("user.data.export", Outcome.SUCCESS, subject_id=subject,
                                             details={"grants": str(len(grants)), "events": str(len(activity))}))
        return ExportOut(subject_id=subject, export_time=now, enrollment=enrollment,
                         cameo_policy=policy_out(app.consent.get_policy(subject)), grants=grants,
                         relationships=edges, activity=activity)

    def openapi() -> dict[str, Any]:
        """The generated document, without FastAPI's 422 (validation errors answer 400 here)."""
        if api.openapi_schema is None:
            schema = get_openapi(title=api.title, version=api.version, description=api.description,
                                 routes=api.routes)
            for path_item in schema.get("paths", {}).values():
                for operation in path_item.values():
                    operation.get("responses", {}).pop("422", None)
            for name in ("HTTPValidationError", "ValidationError"):
                schema.get("components", {}).get("schemas", {}).pop(name, None)
            api.openapi_schema = schema
        return api.openapi_schema

    api.openapi = openapi  # type: ignore[method-assign]
    return api

