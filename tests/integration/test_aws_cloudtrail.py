"""Verification by CloudTrail (issue 7): an external IAM issuer with a CloudTrail endpoint
names the source addresses that still sign with the old key, in the rotation's waiting
reason during the quiet period; where LookupEvents is not allowed it falls back to
GetAccessKeyLastUsed alone, with a note.

The AWS side is a second keyward server ("aws": IAM, STS and CloudTrail LookupEvents),
and the old key is really used from the test (STS GetCallerIdentity at "aws"), so the
events LookupEvents finds are real ones.
"""
import contextlib
import json
import os
import threading
import time

import pytest

from conftest import REGION, Server
from test_external_issuer import environment, keyward_call

QUIET = 4


@pytest.fixture(scope="module")
def world(tmp_root):
    root = os.path.join(tmp_root, "aws-cloudtrail")
    os.makedirs(root, exist_ok=True)
    with contextlib.ExitStack() as stack:
        aws = Server(os.path.join(root, "aws"))
        stack.callback(aws.stop)
        iam = aws.client("iam")
        # A rotator that may rotate keys but not look events up.
        iam.create_user(UserName="no-trail")
        iam.put_user_policy(UserName="no-trail", PolicyName="rotate", PolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Action": ["iam:*", "sts:*"], "Resource": "*"},
                {"Effect": "Deny", "Action": "cloudtrail:*", "Resource": "*"}]}))
        limited = iam.create_access_key(UserName="no-trail")["AccessKey"]
        cred_file = os.path.join(root, "credentials")
        with open(cred_file, "w") as f:
            f.write(f"[aws]\naws_access_key_id = {aws.admin_key}\n"
                    f"aws_secret_access_key = {aws.admin_secret}\n"
                    f"[no-trail]\naws_access_key_id = {limited['AccessKeyId']}\n"
                    f"aws_secret_access_key = {limited['SecretAccessKey']}\n")
        common = {"type": "aws-iam", "endpoint": aws.endpoint, "sts_endpoint": aws.endpoint,
                  "cloudtrail_endpoint": aws.endpoint, "region": REGION,
                  "calls_per_second": 50, "burst": 10, "timeout_seconds": 5, "max_attempts": 2}
        integrations = os.path.join(root, "integrations.yaml")
        with open(integrations, "w") as f:
            json.dump({"issuers": {"trail": {**common, "profile": "aws"},
                                   "denied": {**common, "profile": "no-trail"}}}, f)
        with environment(AWS_SHARED_CREDENTIALS_FILE=cred_file, AWS_CONFIG_FILE="/dev/null",
                         AWS_EC2_METADATA_DISABLED="true"):
            kw = Server(os.path.join(root, "kw"), extra_args=("--integrations", integrations))
        stack.callback(kw.stop)
        yield {"aws": aws, "kw": kw, "iam": iam}


def rotate_while_the_old_key_is_used(w, issuer, user, wanted):
    """Starts a rotation of `user` by `issuer` and signs with the old key at "aws" until the
    rotation's waiting reason contains `wanted` (or 30 s pass). Returns that rotation
    record and the old key."""
    iam, kw = w["iam"], w["kw"]
    iam.create_user(UserName=user)
    old = iam.create_access_key(UserName=user)["AccessKey"]
    kw.client("secretsmanager").create_secret(Name=f"{user}-key", SecretString=json.dumps({
        "aws_access_key_id": old["AccessKeyId"], "aws_secret_access_key": old["SecretAccessKey"]}))
    policy = keyward_call(kw, "CreateRotationPolicy", {
        "UserName": user, "SecretId": f"{user}-key", "Issuer": issuer,
        "Delivery": {"Type": "none"}, "AutomaticallyAfterDays": 90,
        "QuietPeriodSeconds": QUIET, "AckTimeoutSeconds": 60, "GracePeriodSeconds": 1})
    rid = keyward_call(kw, "RotateNow", {"PolicyId": policy["RotationPolicy"]["PolicyId"]})[
        "Rotation"]["RotationId"]
    sts = w["aws"].client("sts", key=old["AccessKeyId"], secret=old["SecretAccessKey"])
    stop = threading.Event()

    def use():
        while not stop.is_set():
            with contextlib.suppress(Exception):
                sts.get_caller_identity()
            stop.wait(0.3)

    seen = None
    user_thread = threading.Thread(target=use, daemon=True)
    deadline = time.time() + 30
    try:
        while time.time() < deadline:
            r = keyward_call(kw, "GetRotation", {"RotationId": rid})["Rotation"]
            if r["Step"] == "verify" and not user_thread.is_alive():
                user_thread.start()  # only now: uses before the ack do not count
            if wanted in r.get("WaitingReason", ""):
                seen = r
                break
            assert r["Step"] in ("queued", "preflight", "create", "store", "test", "promote",
                                 "distribute", "verify"), r
            time.sleep(0.3)
    finally:
        stop.set()
        if user_thread.is_alive():
            user_thread.join(timeout=5)
    assert seen is not None, r
    return seen, old, rid


def wait_done(kw, rid, timeout=40):
    deadline = time.time() + timeout
    while True:
        r = keyward_call(kw, "GetRotation", {"RotationId": rid})["Rotation"]
        if r["Step"] in ("done", "failed") or time.time() > deadline:
            return r
        time.sleep(0.3)


def test_quiet_check_names_the_addresses_that_still_use_the_old_key(world):
    r, old, rid = rotate_while_the_old_key_is_used(world, "trail", "ct-app", "CloudTrail: ")
    reason = r["WaitingReason"]
    assert r["Step"] == "verify", r
    assert f"the old key {old['AccessKeyId']} was used at" in reason, reason
    # The test's own address, the event it signed, and how many.
    assert "CloudTrail: 127.0.0.1 (" in reason, reason
    assert "last GetCallerIdentity at" in reason, reason
    # Once the use stops, the quiet period runs out and the rotation completes.
    done = wait_done(world["kw"], rid)
    assert done["Step"] == "done", done
    keys = world["iam"].list_access_keys(UserName="ct-app")["AccessKeyMetadata"]
    assert old["AccessKeyId"] not in [k["AccessKeyId"] for k in keys]
    assert old["SecretAccessKey"] not in world["kw"].output()


def test_lookup_events_not_allowed_falls_back_with_a_note(world):
    r, old, rid = rotate_while_the_old_key_is_used(world, "denied", "ct-denied",
                                                   "LookupEvents not allowed")
    reason = r["WaitingReason"]
    assert r["Step"] == "verify", r
    assert "source addresses unknown" in reason, reason
    assert "127.0.0.1" not in reason, reason
    done = wait_done(world["kw"], rid)
    assert done["Step"] == "done", done
