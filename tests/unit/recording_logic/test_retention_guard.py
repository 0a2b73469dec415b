"""Issue 15, attack 1 and 7 as pure decisions: nobody moves a volume's retention earlier, legal holds belong to their
authority, the janitor derives the destruction time itself, and the audit record of a destruction is complete."""

from __future__ import annotations

import io
import json
import logging
from datetime import UTC, datetime, timedelta

from camfleet.kube.drift import edited_fields, foreign_fields
from camfleet.observability.audit import REQUIRED_FIELDS, AuditFormatter
from camfleet.recording.holds import (
    CONTROL_PLANE_REMOVERS,
    LEGAL_HOLD,
    RELEASED_AT,
    RETAIN_UNTIL,
    RETENTION_DAYS,
    GuardSettings,
    PolicyHold,
    Requester,
    checkpoint_refusal,
    destruction_due,
    judge_delete,
    judge_update,
    may_delete,
    policy_hold,
    policy_hold_refusal,
    release_annotations,
)

NOW = datetime(2026, 6, 1, tzinfo=UTC)
SETTINGS = GuardSettings(operator_usernames=frozenset({"system:serviceaccount:camfleet-system:camfleet"}))
OPERATOR = Requester("system:serviceaccount:camfleet-system:camfleet", ())
USER = Requester("dora", ("camfleet.io/department:traffic", "system:authenticated"))
JUDGE = Requester("judge", ("camfleet.io/legal-hold-authority",))
LABELS = ({"camfleet.io/retention-volume": "true"}, {"camfleet.io/retention-volume": "true"})
RELEASED = {**release_annotations(NOW, 30)}


def released() -> dict[str, str]:
    return {k: str(v) for k, v in RELEASED.items()}


def test_an_earlier_retain_until_is_refused_naming_r3_for_everyone() -> None:
    lowered = {**released(), RETAIN_UNTIL: "2026-06-02T00:00:00Z"}
    for who in (USER, OPERATOR, JUDGE):
        why = judge_update("ns/cam-recordings", released(), lowered, LABELS, who, SETTINGS)
        assert why is not None
        assert "R3" in why
        assert "earlier" in why


def test_removing_retain_until_or_the_release_record_is_refused_to_users() -> None:
    for key in (RETAIN_UNTIL, RELEASED_AT, RETENTION_DAYS):
        removed = {k: v for k, v in released().items() if k != key}
        assert "R3" in (judge_update("ns/v", released(), removed, LABELS, USER, SETTINGS) or "")
    # camfleet records on a released volume again: it is in use, nothing expires
    unreleased = {k: v for k, v in released().items() if k not in (RETAIN_UNTIL, RELEASED_AT)}
    assert judge_update("ns/v", released(), unreleased, LABELS, OPERATOR, SETTINGS) is None


def test_taking_the_guarded_label_away_is_refused() -> None:
    why = judge_update("ns/v", released(), released(), (LABELS[0], {}), USER, SETTINGS)
    assert why is not None
    assert "R3" in why


def test_a_legal_hold_is_set_and_lifted_only_by_its_authority_or_as_the_policy_says() -> None:
    held = {**released(), LEGAL_HOLD: "Court order 7"}
    assert "legal-hold-authority" in (judge_update("ns/v", released(), held, LABELS, USER, SETTINGS) or "")
    assert "R3" in (judge_update("ns/v", held, released(), LABELS, USER, SETTINGS) or "")
    assert judge_update("ns/v", released(), held, LABELS, JUDGE, SETTINGS) is None
    assert judge_update("ns/v", held, released(), LABELS, JUDGE, SETTINGS) is None
    says = PolicyHold(same_policy=True, value="Court order 7")
    assert judge_update("ns/v", released(), held, LABELS, OPERATOR, SETTINGS, says) is None
    lifted_elsewhere = PolicyHold(same_policy=False, value=None)
    assert judge_update("ns/v", held, released(), LABELS, OPERATOR, SETTINGS, lifted_elsewhere) is not None
    assert judge_update("ns/v", held, released(), LABELS, OPERATOR, SETTINGS, PolicyHold(True, None)) is None


def test_a_policys_hold_in_force_is_lifted_or_changed_by_its_authority_only() -> None:
    held = policy_hold({"enabled": True, "reference": "Court order 2026-9"})
    assert held == "Court order 2026-9"
    assert policy_hold({"enabled": False, "reference": "Court order 2026-9"}) is None
    assert policy_hold(None) is None
    policy = "traffic/evidence"
    # Setting a hold only keeps recordings: anyone who may edit the policy may.
    assert policy_hold_refusal(policy, None, held, USER, SETTINGS) is None
    lifted = policy_hold_refusal(policy, held, None, USER, SETTINGS)
    assert lifted is not None
    assert lifted.startswith("lifting the legal hold (Court order 2026-9) of RecordingPolicy traffic/evidence by dora")
    assert "only the legal-hold authority (group camfleet.io/legal-hold-authority)" in lifted
    assert "rule R3" in lifted
    changed = policy_hold_refusal(policy, held, "Court order 2026-10", USER, SETTINGS)
    assert changed is not None
    assert changed.startswith("changing the legal hold")
    # Nor camfleet itself: its service account is no authority (it lifts volumes' holds only as a policy says).
    assert policy_hold_refusal(policy, held, None, OPERATOR, SETTINGS) is not None
    assert policy_hold_refusal(policy, held, None, JUDGE, SETTINGS) is None
    assert policy_hold_refusal(policy, held, "Court order 2026-10", JUDGE, SETTINGS) is None
    assert policy_hold_refusal(policy, held, held, USER, SETTINGS) is None
    deleted = policy_hold_refusal(policy, held, None, USER, SETTINGS, deleting=True)
    assert deleted is not None
    assert deleted.startswith("deleting RecordingPolicy traffic/evidence, whose legal hold (Court order 2026-9) is in")
    assert policy_hold_refusal(policy, None, None, USER, SETTINGS, deleting=True) is None
    assert policy_hold_refusal(policy, held, None, JUDGE, SETTINGS, deleting=True) is None


def test_deleting_inside_retention_or_under_hold_is_refused_to_anyone() -> None:
    assert "kept until 2026-07-01" in (judge_delete("ns/v", released(), NOW + timedelta(days=29)) or "")
    assert "legal hold" in (judge_delete("ns/v", {**released(), LEGAL_HOLD: "x"}, NOW + timedelta(days=999)) or "")
    assert "not released" in (judge_delete("ns/v", {}, NOW) or "")
    assert judge_delete("ns/v", released(), NOW + timedelta(days=30)) is None


def test_the_janitor_derives_the_time_from_the_release_not_from_a_lowered_retain_until() -> None:
    forged = {**released(), RETAIN_UNTIL: "2026-06-01T00:00:01Z"}  # written past the guard (webhook down)
    assert destruction_due(forged) == NOW + timedelta(days=30)
    assert not may_delete(forged, NOW + timedelta(days=29, hours=23))
    assert may_delete(forged, NOW + timedelta(days=30))
    assert destruction_due({**forged, RETENTION_DAYS: "3"}) == NOW + timedelta(days=30), "never below the floor"
    assert destruction_due(forged, newest_segment=NOW + timedelta(days=2)) == NOW + timedelta(days=32)


def test_every_audit_record_is_a_complete_json_line_even_one_logged_with_extra() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(AuditFormatter())
    log = logging.getLogger("camfleet.audit.test-formatter")
    log.addHandler(handler)
    log.propagate = False
    log.setLevel(logging.INFO)
    extra = {"action": "DestroyRecordings", "object": "PersistentVolumeClaim ns/v", "reason": "retention passed"}
    log.info("recordings destroyed", extra={**extra, "retainUntil": "2026-07-01T00:00:00Z"})
    log.info(json.dumps({"action": "GrantApproved", "actor": "camfleet-operator", "object": "SharingGrant a/b"}))
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert all(field in first for field in REQUIRED_FIELDS)
    assert first["action"] == "DestroyRecordings"
    assert first["object"] == "PersistentVolumeClaim ns/v"
    assert first["reason"] == "retention passed"
    assert first["retainUntil"] == "2026-07-01T00:00:00Z"
    assert first["message"] == "recordings destroyed"
    assert first["actor"] == "camfleet-operator"
    assert all(field in second for field in REQUIRED_FIELDS)
    assert second["action"] == "GrantApproved"


def test_a_hand_edit_of_a_field_camfleet_sets_is_found_in_managed_fields_and_others_are_not_its() -> None:
    manifest = {
        "spec": {
            "replicas": 1,
            "template": {
                "spec": {
                    "containers": [{"name": "recorder", "env": [{"name": "CAMFLEET_LEGAL_HOLD", "value": "true"}]}]
                }
            },
        }
    }
    env = {'k:{"name":"CAMFLEET_LEGAL_HOLD"}': {".": {}, "f:value": {}}, 'k:{"name":"EXTRA"}': {"f:value": {}}}
    live = {
        "metadata": {
            "managedFields": [
                {"manager": "camfleet", "operation": "Apply", "fieldsV1": {"f:spec": {"f:replicas": {}}}},
                {"manager": "kube-controller-manager", "subresource": "status", "fieldsV1": {"f:status": {}}},
                {
                    "manager": "kubectl-edit",
                    "operation": "Update",
                    "fieldsV1": {
                        "f:spec": {
                            "f:template": {"f:spec": {"f:containers": {'k:{"name":"recorder"}': {"f:env": env}}}}
                        }
                    },
                },
            ]
        }
    }
    foreign = foreign_fields(live)
    assert [entry["manager"] for entry in foreign] == ["kubectl-edit"]
    assert edited_fields(foreign, manifest) == [
        'kubectl-edit: spec.template.spec.containers[{"name":"recorder"}].env[{"name":"CAMFLEET_LEGAL_HOLD"}].value'
    ]
    assert (
        edited_fields(foreign_fields({"metadata": {"managedFields": live["metadata"]["managedFields"][:2]}}), manifest)
        == []
    )


def test_the_configured_legal_hold_authority_users_and_groups_may_set_a_hold() -> None:
    settings = GuardSettings(
        operator_usernames=frozenset(),
        legal_hold_groups=frozenset({"court-liaison"}),
        legal_hold_users=frozenset({"judge"}),
    )
    assert settings.is_legal_hold_authority(Requester("judge", ()))
    assert settings.is_legal_hold_authority(Requester("clerk", ("court-liaison",)))
    assert not settings.is_legal_hold_authority(Requester("mallory", ("camfleet.io/department:police",)))


def test_a_chain_checkpoint_is_changed_by_camfleet_only_and_deleted_also_by_garbage_collection() -> None:
    for operation in ("UPDATE", "DELETE"):
        refusal = checkpoint_refusal("traffic/gate-chain", operation, USER, SETTINGS)
        assert refusal is not None
        assert "chain checkpoint ConfigMap traffic/gate-chain by dora is refused" in refusal
        assert "rule R3" in refusal
        assert checkpoint_refusal("traffic/gate-chain", operation, OPERATOR, SETTINGS) is None
        assert checkpoint_refusal("traffic/gate-chain", operation, JUDGE, SETTINGS) is not None
    collector = Requester("system:serviceaccount:kube-system:generic-garbage-collector", ())
    assert collector.username in CONTROL_PLANE_REMOVERS
    assert checkpoint_refusal("traffic/gate-chain", "DELETE", collector, SETTINGS) is None
    assert checkpoint_refusal("traffic/gate-chain", "UPDATE", collector, SETTINGS) is not None
