"""Rotation as Secrets Manager shows it, and the grace-period signal, end to end (issue 5).

`aws secretsmanager rotate-secret` on a secret under a keyward rotation policy starts the
policy's rotation, and `describe-secret` shows the policy's dates. During the grace period
a request signed with the deactivated key is refused, recorded as a finding with its
source address and (by default) reactivates the key, sending the rotation back to verify.

Policies use delivery "none" (no hosts) and periods of seconds, as test_fleet.py's
rotation test shortens them; the server's scheduler ticks once a second.
"""
import http.client
import json
import os
import time

import botocore.exceptions
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from conftest import REGION, Server, run_aws, run_keyward


@pytest.fixture(scope="module")
def srv(tmp_root):
    # A server of its own: the rotations left in grace here stay out of other tests' views.
    root = os.path.join(tmp_root, "rotation-grace")
    os.makedirs(root, exist_ok=True)
    s = Server(os.path.join(root, "data"))
    yield s
    s.stop()


def send_json(server, service, target, body):
    """A signed JSON 1.1 request; returns (status, parsed body)."""
    text = json.dumps(body)
    prefix = {"keyward": "Keyward", "secretsmanager": "secretsmanager"}[service]
    req = AWSRequest(method="POST", url=server.endpoint + "/", data=text,
                     headers={"Content-Type": "application/x-amz-json-1.1",
                              "X-Amz-Target": f"{prefix}.{target}"})
    SigV4Auth(Credentials(server.admin_key, server.admin_secret), service, REGION).add_auth(req)
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.request("POST", "/", body=text, headers=dict(req.headers.items()))
    resp = conn.getresponse()
    out = resp.read().decode(errors="replace")
    conn.close()
    return resp.status, json.loads(out) if out else {}


def keyward(server, target, body):
    status, out = send_json(server, "keyward", target, body)
    assert status == 200, (target, out)
    return out


def wait_for(predicate, timeout, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def user_with_secret(srv, name):
    """An IAM user with one access key, stored in a secret as the seed stores it."""
    iam = srv.client("iam")
    iam.create_user(UserName=name)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    srv.client("secretsmanager").create_secret(Name=f"{name}/creds", SecretString=json.dumps({
        "aws_access_key_id": key["AccessKeyId"], "aws_secret_access_key": key["SecretAccessKey"]}))
    return key["AccessKeyId"], key["SecretAccessKey"]


def create_policy(srv, name, **overrides):
    body = {"UserName": name, "SecretId": f"{name}/creds", "Delivery": {"Type": "none"},
            "ScheduleExpression": "rate(30 days)", "QuietPeriodSeconds": 1,
            "AckTimeoutSeconds": 60, "GracePeriodSeconds": 60}
    body.update(overrides)
    return keyward(srv, "CreateRotationPolicy", body)["RotationPolicy"]


def rotation(srv, rotation_id):
    return keyward(srv, "GetRotation", {"RotationId": rotation_id})["Rotation"]


def steps(r):
    return [h["Step"] for h in r["History"]]


def key_status(srv, user, key_id):
    keys = srv.client("iam").list_access_keys(UserName=user)["AccessKeyMetadata"]
    return next((k["Status"] for k in keys if k["AccessKeyId"] == key_id), None)


def refused_with_old_key(srv, key_id, secret):
    sts = srv.client("sts", key=key_id, secret=secret)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        sts.get_caller_identity()
    assert e.value.response["Error"]["Code"] == "InvalidClientTokenId"


def to_grace(srv, policy):
    r = keyward(srv, "RotateNow", {"PolicyId": policy["PolicyId"]})["Rotation"]
    return wait_for(lambda: (lambda x: x if x["Step"] == "grace" else None)(
        rotation(srv, r["RotationId"])), 30, "the rotation to reach grace")


def test_rotate_secret_starts_the_policys_rotation_and_describe_shows_its_dates(srv):
    name = "smrot"
    old_key, _ = user_with_secret(srv, name)
    secret = f"{name}/creds"
    policy = create_policy(srv, name, GracePeriodSeconds=2)

    # NextRotationDate is newer than Debian's botocore: read the JSON.
    status, raw = send_json(srv, "secretsmanager", "DescribeSecret", {"SecretId": secret})
    assert status == 200, raw
    assert raw["RotationEnabled"] is True
    assert abs(raw["NextRotationDate"] - policy["NextRotationDate"]) < 1
    assert 29 < (raw["NextRotationDate"] - time.time()) / 86400 <= 30
    assert "LastRotatedDate" not in raw

    out = json.loads(run_aws(srv, "secretsmanager", "rotate-secret", "--secret-id", secret).stdout)
    assert out["Name"] == secret
    # keyward names the new version when it creates the key, so no VersionId is promised.
    assert "VersionId" not in out
    rotations = keyward(srv, "ListRotations", {"PolicyId": policy["PolicyId"]})["Rotations"]
    assert len(rotations) == 1 and rotations[0]["Trigger"] == "manual"
    rid = rotations[0]["RotationId"]
    # One at a time, as AWS refuses a rotation while the previous one is incomplete.
    status, again = send_json(srv, "secretsmanager", "RotateSecret", {"SecretId": secret})
    assert status == 400 and again["__type"].endswith("InvalidRequestException"), again

    wait_for(lambda: rotation(srv, rid)["Step"] in ("done", "failed"), 30, "the rotation to end")
    r = rotation(srv, rid)
    assert r["Step"] == "done", r
    assert len(keyward(srv, "ListRotations", {"PolicyId": policy["PolicyId"]})["Rotations"]) == 1
    desc = json.loads(run_aws(srv, "secretsmanager", "describe-secret", "--secret-id", secret).stdout)
    assert desc["RotationEnabled"] is True
    assert "LastRotatedDate" in desc
    status, raw = send_json(srv, "secretsmanager", "DescribeSecret", {"SecretId": secret})
    assert abs(raw["LastRotatedDate"] - r["PromotedDate"]) < 1
    listed = srv.client("secretsmanager").list_secrets(
        Filters=[{"Key": "name", "Values": [secret]}])["SecretList"]
    assert [e["RotationEnabled"] for e in listed] == [True]
    value = json.loads(srv.client("secretsmanager").get_secret_value(SecretId=secret)["SecretString"])
    assert value["aws_access_key_id"] == r["NewAccessKeyId"] != old_key
    assert key_status(srv, name, old_key) is None  # deleted after the grace period

    # A secret without a policy keeps Secrets Manager's own behaviour: configuration only.
    srv.client("secretsmanager").create_secret(Name="plain-rot", SecretString="x")
    run_aws(srv, "secretsmanager", "rotate-secret", "--secret-id", "plain-rot",
            "--rotation-rules", "AutomaticallyAfterDays=7")
    desc = json.loads(run_aws(srv, "secretsmanager", "describe-secret", "--secret-id",
                              "plain-rot").stdout)
    assert desc["RotationEnabled"] is True and desc["RotationRules"]["AutomaticallyAfterDays"] == 7
    assert srv.client("secretsmanager").get_secret_value(SecretId="plain-rot")["SecretString"] == "x"


def test_use_of_the_old_key_during_grace_is_recorded_and_reactivates_it(srv):
    name = "gracereact"
    old_key, old_secret = user_with_secret(srv, name)
    # A quiet period long enough to see the reactivated key before verify retires it again.
    policy = create_policy(srv, name, QuietPeriodSeconds=4)
    r = to_grace(srv, policy)
    assert r["OldAccessKeyId"] == old_key and "DeactivatedDate" in r
    assert key_status(srv, name, old_key) == "Inactive"
    assert r["Findings"] == []

    refused_with_old_key(srv, old_key, old_secret)
    r = wait_for(lambda: (lambda x: x if x["Findings"] else None)(rotation(srv, r["RotationId"])),
                 10, "the finding")
    assert key_status(srv, name, old_key) == "Active"
    [finding] = r["Findings"]
    assert finding["AccessKeyId"] == old_key
    assert finding["Source"] == "127.0.0.1"
    assert finding["Reactivated"] is True
    history = steps(r)
    assert history[history.index("grace") + 1] == "verify", history


def test_without_reactivation_the_key_stays_inactive_and_the_use_is_recorded(srv):
    name = "gracekeep"
    old_key, old_secret = user_with_secret(srv, name)
    policy = create_policy(srv, name, ReactivateOnUse=False)
    r = to_grace(srv, policy)
    refused_with_old_key(srv, old_key, old_secret)
    r = wait_for(lambda: (lambda x: x if x["Findings"] else None)(rotation(srv, r["RotationId"])),
                 10, "the finding")
    [finding] = r["Findings"]
    assert finding["Source"] == "127.0.0.1" and finding["Reactivated"] is False
    assert r["Step"] == "grace"
    assert steps(r).count("grace") == 1
    assert key_status(srv, name, old_key) == "Inactive"
    # Still refused: nothing turned the key back on.
    refused_with_old_key(srv, old_key, old_secret)


def kw(srv, *args):
    return run_keyward(srv, *args).stdout


def test_operator_view_plan_and_watch(srv):
    name = "opview"
    old_key, _ = user_with_secret(srv, name)
    policy = create_policy(srv, name, GracePeriodSeconds=1)
    plan = kw(srv, "rotation", "plan", policy["PolicyId"])
    assert old_key in plan and "Nothing was changed" in plan, plan
    assert "delivery 'none'" in plan
    assert keyward(srv, "ListRotations", {"PolicyId": policy["PolicyId"]})["Rotations"] == []

    rid = keyward(srv, "RotateNow", {"PolicyId": policy["PolicyId"]})["Rotation"]["RotationId"]
    # Piped (no terminal): frames one after another until the rotation is done.
    out = kw(srv, "rotation", "status", rid, "--watch")
    assert "\x1b[" not in out
    frames = out.count("RotationId")
    assert frames >= 2, out  # it was still running when the watch began
    last = out[out.rindex("RotationId"):].splitlines()
    assert last[1].split()[3] == "done", out
    assert out.split("RotationId")[1].splitlines()[1].split()[3] != "done", out
    assert " grace " in out
