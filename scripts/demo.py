"""The quickstart, run end to end against a real server: `bash scripts/demo.sh` after the setup
command, on a fresh clone.

It starts `identity-service serve` (SQLite in a temporary folder, the models from setup, one caller
per role, a dev user-token key), then, printing each step:

 1. enrolls alice from a real recording in ../shared/data (the app's caller, Enroll);
 2. sets her cameo policy to FRIENDS (UpdateCameoPolicy);
 3. syncs a mutual friendship alice <-> bob (the social graph's caller, SyncRelationships);
 4. checks whether bob may put alice in a video (the generator's caller, CheckCameoPermission): ALLOW,
    with a signed use token;
 5. verifies that token offline, with the published keys (GetPublicKeys) and no call per token;
 6. alice narrows her policy to NOBODY through the user API, with her own access token: a revocation;
 7. checks again: DENY;
 8. reads the revocation feed (ListRevocations): the offline verifier now rejects the old token;
 9. alice reads who used her likeness through the user API (/v1/subjects/me/uses);
10. reads alice's audit events as an auditor (ListEvents).

Exits 0 when every step succeeds and non-zero at the first that does not. A recording made
beforehand cannot say a fresh session's digits or turn the head on cue, so the two challenge checks
run but are reported, not required, here (LIKENESS_LIVENESS_OPTIONAL_CHECKS); a real app records
after showing the challenge. CI runs this (tests/test_demo.py).
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import grpc  # noqa: E402
import httpx  # noqa: E402

from consent.tokens import RevocationList, TokenRejected, keys_from_jwks, verify_use_token  # noqa: E402
from identity_service.client import enroll_file  # noqa: E402
from likeness.audit.v1 import audit_service_pb2 as apb  # noqa: E402
from likeness.audit.v1 import audit_service_pb2_grpc as arpc  # noqa: E402
from likeness.consent.v1 import consent_service_pb2 as cpb  # noqa: E402
from likeness.consent.v1 import consent_service_pb2_grpc as crpc  # noqa: E402
from likeness.identity.v1 import identity_service_pb2 as ipb  # noqa: E402
from scripts._server import Server, start_server  # noqa: E402

RECORDING = ROOT.parent / "shared" / "data" / "talking" / "sstzal_DFRF_cnn2_25fps_57-71s.mp4"
GENERATOR = "dev-generator"  # the generator caller's name: the `aud` of its use tokens


class StepFailed(Exception):
    pass


def step(number: int, title: str, run: Callable[[], str]) -> None:
    print(f"[{number:2}] {title} ... ", end="", flush=True)
    started = time.perf_counter()
    try:
        said = run()
    except (grpc.RpcError, httpx.HTTPError, StepFailed, AssertionError) as error:
        print("FAILED")
        detail = error.details() if isinstance(error, grpc.RpcError) else str(error)  # type: ignore[attr-defined]
        raise StepFailed(f"step {number} ({title}): {detail}") from error
    print(f"ok ({time.perf_counter() - started:.2f} s)")
    for line in said.splitlines():
        print(f"     {line}")


def run_demo(server: Server) -> None:
    channel = grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}")
    consent = crpc.ConsentServiceStub(channel)  # type: ignore[no-untyped-call]
    user_api = httpx.Client(base_url=f"http://127.0.0.1:{server.http_port}", timeout=30,
                            headers={"authorization": f"Bearer {server.user_token('alice')}"})
    state: dict[str, Any] = {}

    def enroll() -> str:
        _, result = enroll_file(channel, "alice", str(RECORDING), token=server.tokens["app"])
        checks = "\n".join(f"{ipb.LivenessCheckKind.Name(c.kind).removeprefix('LIVENESS_CHECK_KIND_').lower():<20}"
                           f" {'pass' if c.passed else 'fail'}{'' if c.required else ' (reported, not required)'}"
                           f"  score {c.score:.2f} / threshold {c.threshold:.2f}"
                           for c in result.checks)  # type: ignore[attr-defined]
        state_name = ipb.EnrollmentState.Name(result.state)  # type: ignore[attr-defined]
        if state_name != "ENROLLMENT_STATE_ACTIVE":
            raise StepFailed(f"enrollment ended {state_name}:\n{checks}")
        return f"alice is {state_name.removeprefix('ENROLLMENT_STATE_')}\n{checks}"

    def policy_friends() -> str:
        updated = consent.UpdateCameoPolicy(cpb.UpdateCameoPolicyRequest(policy=cpb.CameoPolicy(
            owner_id="alice", audience=cpb.AUDIENCE_FRIENDS, instructions="keep it kind")),
            metadata=server.metadata("app"), timeout=10)
        return f"audience {cpb.Audience.Name(updated.policy.audience)}, etag {updated.policy.etag}"

    def friendship() -> str:
        changes = [cpb.RelationshipChange(operation=cpb.RelationshipChange.OPERATION_UPSERT, from_id=a, to_id=b,
                                          version=1) for a, b in (("alice", "bob"), ("bob", "alice"))]
        synced = consent.SyncRelationships(cpb.SyncRelationshipsRequest(changes=changes),
                                           metadata=server.metadata("social_graph"), timeout=10)
        assert synced.applied == 2, synced
        return f"applied {synced.applied}, stale {synced.stale}"

    def check(expect: str) -> Callable[[], str]:
        def run() -> str:
            answer = consent.CheckCameoPermission(cpb.CheckCameoPermissionRequest(
                owner_id="alice", requester_id="bob", purpose="birthday video"),
                metadata=server.metadata("generator"), timeout=10)
            decision = cpb.PermissionDecision.Name(answer.decision)
            if decision != expect:
                raise StepFailed(f"{decision} ({cpb.DenyReason.Name(answer.deny_reason)}), expected {expect}")
            if answer.use_token:
                state["token"] = answer.use_token
                return f"{decision}: use token {answer.token_id}, expires {answer.expire_time.ToJsonString()}"
            return f"{decision}: {cpb.DenyReason.Name(answer.deny_reason)}"
        return run

    def verify_offline() -> str:
        jwks = consent.GetPublicKeys(cpb.GetPublicKeysRequest(), metadata=server.metadata("generator"), timeout=10)
        state["keys"] = keys_from_jwks(jwks.jwks_json)
        claims = verify_use_token(state["token"], state["keys"], issuer="likeness-consent", audience=GENERATOR,
                                  owner="alice", requester="bob", revocations=RevocationList())
        return f"valid: owner {claims.sub}, requester {claims.req}, for {claims.aud}"

    def narrow_through_user_api() -> str:
        current = user_api.get("/v1/subjects/me/cameo-policy")
        current.raise_for_status()
        changed = user_api.put("/v1/subjects/me/cameo-policy", json={"audience": "nobody"},
                               headers={"if-match": current.headers["etag"]})
        changed.raise_for_status()
        return f"PUT /v1/subjects/me/cameo-policy -> {changed.status_code}, audience {changed.json()['audience']}"

    def feed() -> str:
        revoked = RevocationList()
        entries = consent.ListRevocations(cpb.ListRevocationsRequest(since_cursor=revoked.cursor),
                                          metadata=server.metadata("generator"), timeout=10).revocations
        for entry in entries:
            revoked.add(cursor=entry.cursor, grant=entry.grant, owner_id=entry.owner_id,
                        revoke_time_s=entry.revoke_time.seconds)
        try:
            verify_use_token(state["token"], state["keys"], issuer="likeness-consent", audience=GENERATOR,
                             owner="alice", revocations=revoked)
        except TokenRejected as rejected:
            return f"{len(entries)} revocation(s); the old token is now rejected offline: {rejected.problem.value}"
        raise StepFailed("the offline verifier still accepts a token its owner revoked")

    def uses() -> str:
        listed = user_api.get("/v1/subjects/me/uses")
        listed.raise_for_status()
        rows = listed.json()["uses"]
        assert [u["decision"] for u in rows[:2]] == ["deny", "allow"], rows
        return "\n".join(f"{u['time']}  {u['requester_id']} via {u['service']}: {u['decision']}"
                         f"{' (' + u['deny_reason'] + ')' if u['deny_reason'] else ''}" for u in rows[:5])

    def audit() -> str:
        events = arpc.AuditServiceStub(channel).ListEvents(  # type: ignore[no-untyped-call]
            apb.ListEventsRequest(subject_id="alice", page_size=50), metadata=server.metadata("auditor"),
            timeout=30).events
        actions = [e.action for e in events]
        for needed in ("identity.enrollment.pass", "consent.policy.update", "consent.relationships.sync",
                       "consent.permission.check"):
            if not any(a.startswith(needed) for a in actions):
                raise StepFailed(f"no {needed} event for alice in {actions}")
        return "\n".join(f"#{e.sequence:<3} {e.action:<32} {apb.Outcome.Name(e.outcome).removeprefix('OUTCOME_'):<8}"
                         f" by {e.actor_id}" for e in events)

    try:
        step(1, "enroll alice from a recording (Enroll)", enroll)
        step(2, "alice's policy: FRIENDS (UpdateCameoPolicy)", policy_friends)
        step(3, "alice and bob are friends (SyncRelationships)", friendship)
        step(4, "may bob put alice in a video? (CheckCameoPermission)", check("PERMISSION_DECISION_ALLOW"))
        step(5, "verify the use token offline (GetPublicKeys + consent.tokens)", verify_offline)
        step(6, "alice narrows her policy to nobody (user API)", narrow_through_user_api)
        step(7, "may bob now? (CheckCameoPermission)", check("PERMISSION_DECISION_DENY"))
        step(8, "read the revocation feed (ListRevocations)", feed)
        step(9, "alice sees who used her likeness (user API)", uses)
        step(10, "the audit log holds every step for alice (ListEvents)", audit)
    finally:
        user_api.close()
        channel.close()


def main() -> int:
    if not RECORDING.exists():
        print(f"the recording {RECORDING} is missing: the demo needs ../shared/data beside the clone")
        return 2
    with tempfile.TemporaryDirectory() as folder:
        print("starting identity-service serve (SQLite, one caller per role, a dev user-token key) ...")
        server = start_server(Path(folder), liveness_optional_checks='["spoken_digits", "head_turns"]')
        print(f"serving gRPC on 127.0.0.1:{server.grpc_port}, the user API on 127.0.0.1:{server.http_port}")
        try:
            run_demo(server)
        except StepFailed as failed:
            print(f"\ndemo failed: {failed}")
            return 1
        finally:
            server.stop()
    print("\nevery step succeeded")
    return 0


if __name__ == "__main__":
    sys.exit(main())
