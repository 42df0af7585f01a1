"""Rotation with real agents and consumers that never stop (issue 5, "Tests").

Three hosts (real keyward-agent processes, fleet.py) receive test001's key through the
seed's document and script, which write it to each host's credentials file. Throughout
the rotation a consumer per host signs sts GetCallerIdentity every 100 ms with whatever
that file holds; no answered request may fail. Then: the old key deleted after the grace
period, AWSCURRENT on the new version and AWSPREVIOUS on the old. Also: a host whose agent
is offline holds the rotation in distribute, with the old key Active and the host named.
(test_fleet.py proves only the healthy path, so the offline case is here.)
"""
import json
import os
import time

import pytest

from conftest import Server
from fleet import can_isolate_hosts, wait_for
from rotation_client import Consumer, json_call, write_config
from test_fleet import ROLE, SEED_DOCUMENT, Fleet, online

USER, SECRET = "test001", "iam-user-test001"  # the names the seed's script uses


class RotationFleet(Fleet):
    """test_fleet's Fleet with the rotation engine ticking every 100 ms."""

    def __init__(self, root):
        os.makedirs(root, exist_ok=True)
        config = write_config(os.path.join(root, "config.yaml"), tick_ms=100)
        real_server = Server

        def server(data_dir, **kw):
            return real_server(data_dir, extra_args=("--config", config), **kw)
        import test_fleet
        test_fleet.Server = server
        try:
            super().__init__(root)
        finally:
            test_fleet.Server = real_server

    def keyward(self, target, payload):
        status, body = json_call("127.0.0.1", self.server.port, self.server.admin_key,
                                 self.server.admin_secret, "keyward", target, payload)
        assert status == 200, f"{target}: HTTP {status} {body}"
        return json.loads(body)


@pytest.fixture(scope="module")
def rfleet(tmp_root):
    if not os.path.exists(os.environ.get("KEYWARD_AGENT_BIN", "")):
        pytest.fail("keyward-agent is not built")
    if not can_isolate_hosts():
        pytest.skip("this machine does not allow mount/UTS namespaces (unshare)")
    f = RotationFleet(os.path.join(tmp_root, "rotation-consumers"))
    trust = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": "ssm.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
    f.iam.create_role(RoleName=ROLE, AssumeRolePolicyDocument=json.dumps(trust))
    act = f.ssm.create_activation(IamRole=ROLE, RegistrationLimit=3)
    for i in range(1, 4):
        host = f.host(f"rhost{i}")
        agent = f.agent(host, env={"CREDENTIALS_PATH": os.path.join(host.dir, "credentials")})
        agent.register(act["ActivationId"], act["ActivationCode"])
        agent.start()
    wait_for(lambda: online(f, [a.instance_id for a in f.agents]), timeout=60, what="hosts online")
    with open(SEED_DOCUMENT) as doc:
        f.ssm.create_document(Name="OverwriteSecretValue", DocumentType="Command", Content=doc.read())
    yield f
    f.close()


def read_credentials(path, torn):
    """The (key, secret) in a credentials file the seed's script wrote, or None while it is
    being rewritten (the script truncates, then writes: a read can see it empty)."""
    try:
        with open(path) as f:
            lines = dict(line.strip().split("=", 1) for line in f if "=" in line)
    except OSError:
        lines = {}
    key, secret = lines.get("aws_access_key_id"), lines.get("aws_secret_access_key")
    if not key or not secret or len(secret) != 40:
        torn.append(time.time())
        return None
    return key, secret


def steps(fleet, rotation_id):
    return fleet.keyward("GetRotation", {"RotationId": rotation_id})["Rotation"]


def test_three_consumers_never_fail_while_the_key_rotates(rfleet):
    f = rfleet
    f.iam.create_user(UserName=USER)
    old = f.iam.create_access_key(UserName=USER)["AccessKey"]
    sm = f.server.client("secretsmanager")
    arn = sm.create_secret(Name=SECRET, SecretString=json.dumps({
        "aws_access_key_id": old["AccessKeyId"], "aws_secret_access_key": old["SecretAccessKey"]}))["ARN"]
    old_version = sm.describe_secret(SecretId=SECRET)["VersionIdsToStages"]
    f.iam.put_role_policy(RoleName=ROLE, PolicyName="read-the-one-secret", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": arn}]}))
    consumers, torn = [], []
    for agent in f.agents:
        path = os.path.join(agent.host.dir, "credentials")
        with open(path, "w") as out:  # what the seed's script wrote before this rotation
            out.write(f"aws_access_key_id={old['AccessKeyId']}\n"
                      f"aws_secret_access_key={old['SecretAccessKey']}\n")
        consumers.append(Consumer("127.0.0.1", f.server.port,
                                  lambda p=path: read_credentials(p, torn), interval=0.1))
    for c in consumers:
        c.start()
    try:
        policy = f.keyward("CreateRotationPolicy", {
            "UserName": USER, "SecretId": SECRET, "AutomaticallyAfterDays": 90,
            "Delivery": {"Type": "document", "Parameters": {"document": "OverwriteSecretValue"}},
            "Targets": [{"Key": "InstanceIds", "Values": [a.instance_id for a in f.agents]}],
            "QuietPeriodSeconds": 2, "AckTimeoutSeconds": 120, "GracePeriodSeconds": 2})["RotationPolicy"]
        rid = f.keyward("RotateNow", {"PolicyId": policy["PolicyId"]})["Rotation"]["RotationId"]
        wait_for(lambda: steps(f, rid)["Step"] in ("done", "failed"), timeout=120, interval=0.2,
                 what="the rotation to end")
        time.sleep(0.5)  # more requests with the new key
    finally:
        for c in consumers:
            c.stop()
    r = steps(f, rid)
    assert r["Step"] == "done", r
    new_key = r["NewAccessKeyId"]
    for c in consumers:
        assert c.failures == [], c.failures[:3]
        assert c.down == 0
        assert {old["AccessKeyId"], new_key} <= c.keys_used, c.keys_used
        assert c.ok > 20
    # The old key is gone (after the grace period), the new one is the only key.
    keys = f.iam.list_access_keys(UserName=USER)["AccessKeyMetadata"]
    assert [(k["AccessKeyId"], k["Status"]) for k in keys] == [(new_key, "Active")]
    grace = [h for h in r["History"] if h["Step"] in ("grace", "delete")]
    assert len(grace) == 2 and grace[1]["EnteredDate"] - grace[0]["EnteredDate"] >= 2
    stages = sm.describe_secret(SecretId=SECRET)["VersionIdsToStages"]
    (old_id,) = old_version
    assert stages[old_id] == ["AWSPREVIOUS"]
    assert stages[r["VersionId"]] == ["AWSCURRENT"]
    value = json.loads(sm.get_secret_value(SecretId=SECRET)["SecretString"])
    assert value["aws_access_key_id"] == new_key


def test_an_offline_host_holds_the_rotation_with_the_old_key_active(rfleet):
    f = rfleet
    user, secret = "svc-offline", "svc-offline/creds"
    f.iam.create_user(UserName=user)
    old = f.iam.create_access_key(UserName=user)["AccessKey"]
    f.server.client("secretsmanager").create_secret(Name=secret, SecretString=json.dumps({
        "aws_access_key_id": old["AccessKeyId"], "aws_secret_access_key": old["SecretAccessKey"]}))
    offline = f.agents[2]
    offline.kill()
    policy = f.keyward("CreateRotationPolicy", {
        "UserName": user, "SecretId": secret, "AutomaticallyAfterDays": 90,
        "Delivery": {"Type": "document", "Parameters": {
            "document": "AWS-RunShellScript", "param:commands": "true"}},
        "Targets": [{"Key": "InstanceIds", "Values": [a.instance_id for a in f.agents]}],
        "QuietPeriodSeconds": 1, "AckTimeoutSeconds": 120, "GracePeriodSeconds": 1})["RotationPolicy"]
    rid = f.keyward("RotateNow", {"PolicyId": policy["PolicyId"]})["Rotation"]["RotationId"]

    def held():
        r = steps(f, rid)
        acked = [h for h in r["Hosts"] if h["Status"] == "acked"]
        return r if r["Step"] == "distribute" and len(acked) == 2 else None
    r = wait_for(held, timeout=60, what="the two online hosts to acknowledge")
    time.sleep(1.5)  # well past the quiet period: still held
    r = steps(f, rid)
    assert r["Step"] == "distribute", r
    assert offline.instance_id in r["WaitingReason"], r["WaitingReason"]
    assert all(a.instance_id not in r["WaitingReason"] for a in f.agents[:2]), r["WaitingReason"]
    keys = f.iam.list_access_keys(UserName=user)["AccessKeyMetadata"]
    assert sorted(k["Status"] for k in keys) == ["Active", "Active"]
    assert old["AccessKeyId"] in {k["AccessKeyId"] for k in keys}
    # Back online, the host gets the command it missed, and the rotation completes.
    offline.start()
    wait_for(lambda: steps(f, rid)["Step"] == "done", timeout=90, interval=0.3,
             what="the rotation to complete once the host is back")
    keys = f.iam.list_access_keys(UserName=user)["AccessKeyMetadata"]
    assert [k["AccessKeyId"] for k in keys] == [steps(f, rid)["NewAccessKeyId"]]
