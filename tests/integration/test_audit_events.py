"""Event findings: a real server's event log read by `keyward audit`. A key tried after
its deactivation and a burst of bad signatures for one access key ID produce their
findings; normal use and a few stray bad signatures do not. The other event findings, from real
source addresses, a real agent and a real rotation: test_audit_event_scenarios.py."""
import json
import os
import time

import botocore.exceptions
import pytest

from conftest import Server, run_keyward

EVENT_TYPES = {"DeactivatedKeyTried", "FailedSignatureBurst", "InstanceCredentialsOffInstance",
               "OldKeyUsedAfterRotation", "AccessKeyFirstUseLate", "AccessKeyUnknownConsumer"}


@pytest.fixture(scope="module")
def srv(tmp_root):
    s = Server(os.path.join(tmp_root, "audit-events-data"))
    yield s
    s.stop()


def kw(server, *args):
    return run_keyward(server, *args)


def audit_json(server):
    p = kw(server, "audit", "--format", "json")
    return {(f["Type"], f["Resource"]): f for f in json.loads(p.stdout)["Findings"]}


def event_findings_for(findings, key_id):
    return {t for (t, r) in findings if r == key_id and t in EVENT_TYPES}


def wait_for(server, wanted, timeout=10):
    """Audits until (type, resource) `wanted` is found (events reach the log in batches)."""
    deadline = time.time() + timeout
    while True:
        findings = audit_json(server)
        if wanted in findings or time.time() > deadline:
            return findings
        time.sleep(0.2)


def make_key(server, name):
    iam = server.client("iam")
    iam.create_user(UserName=name, Tags=[{"Key": "owner", "Value": "team-a"}])
    k = iam.create_access_key(UserName=name)["AccessKey"]
    return k["AccessKeyId"], k["SecretAccessKey"]


def refused(call):
    with pytest.raises(botocore.exceptions.ClientError):
        call()


def test_deactivated_key_tried(srv):
    key, secret = make_key(srv, "ev-deact")
    srv.client("sts", key, secret).get_caller_identity()
    # Clean: normal use of an active key.
    time.sleep(0.3)
    assert event_findings_for(audit_json(srv), key) == set()
    srv.client("iam").update_access_key(UserName="ev-deact", AccessKeyId=key, Status="Inactive")
    refused(srv.client("sts", key, secret).get_caller_identity)
    findings = wait_for(srv, ("DeactivatedKeyTried", key))
    f = findings[("DeactivatedKeyTried", key)]
    assert f["Severity"] == "HIGH"
    # A bad signature with the same key ID is not "tried": only a valid one is.
    assert "FailedSignatureBurst" not in event_findings_for(findings, key)


def test_failed_signature_burst(srv):
    key, _ = make_key(srv, "ev-burst")
    stray, _ = make_key(srv, "ev-stray")
    for _ in range(3):  # below the threshold (10 in 5 minutes)
        refused(srv.client("sts", stray, "x" * 40).get_caller_identity)
    for _ in range(12):
        refused(srv.client("sts", key, "x" * 40).get_caller_identity)
    findings = wait_for(srv, ("FailedSignatureBurst", key))
    assert ("FailedSignatureBurst", key) in findings, sorted(findings)
    assert int(findings[("FailedSignatureBurst", key)]["Evidence"]["Failures"]) >= 10
    assert event_findings_for(findings, stray) == set()
    assert ("DeactivatedKeyTried", key) not in findings
