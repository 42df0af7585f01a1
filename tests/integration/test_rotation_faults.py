"""A real process death at every failpoint of the rotation engine, then a restart on the
same data directory (issue 5, "Bad input and faults").

For each failpoint the engine hits (src/rotation/rotation_engine.cpp; ADR 0009 lists
them), a server runs with KW_FAILPOINTS=<name>=abort, so the process calls abort() at that
step boundary; the test restarts it without failpoints (or, for the points reached only
on a resumed rotation, first with the next failpoint armed) and checks that the rotation
completes, the user ends with exactly one access key, Active, the one AWSCURRENT holds,
and that a consumer signing with the secret's current key every 50 ms never had an
answered request fail.

The cases run four at a time, each with its own server (rotation_tick_ms 100, quiet and
grace periods of 1 second, delivery "none"); the case whose point is reached only from a
schedule waits for the next minute's cron slot. The distribute points are reached only
with hosts that acknowledge: those cases give the policy one target host, a real
keyward-agent (fleet.py, its own mount and UTS namespace, no network namespace: one host
needs no address of its own) that runs a one-command document; they are skipped where
the machine cannot isolate a host.
"""
import json
import os
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from conftest import free_port
from fleet import AGENT_BIN, Agent, Host, can_isolate_hosts, wait_for
from rotation_client import BIN, Consumer, Process, ServerDown, caller_identity, json_call, \
    write_config

HOST = "127.0.0.1"

# name -> (failpoint specs of the successive server lives that die, setup kind).
# "plain": one Active key; "spare": a second key, Inactive and unused, that preflight
# deletes to make room; "laggard": a request signed with the old key during grace makes
# the engine reactivate it; "cron": the rotation is started by its schedule; "host": the
# policy delivers to one real agent, which acknowledges (it survives the server's deaths
# and reconnects to the restarted server).
CASES = {
    "after_claim": (["rotation.after_claim=abort"], "cron"),
    "before_preflight_delete": (["rotation.before_preflight_delete=abort"], "spare"),
    "after_preflight_delete": (["rotation.after_preflight_delete=abort"], "spare"),
    "before_create": (["rotation.before_create=abort"], "plain"),
    "after_create": (["rotation.after_create=abort"], "plain"),
    # The orphan of the interrupted create is deleted on resume; die right after that.
    "after_orphan_delete": (["rotation.after_create=abort", "rotation.after_orphan_delete=abort"],
                            "plain"),
    "before_store": (["rotation.before_store=abort"], "plain"),
    "after_store": (["rotation.after_store=abort"], "plain"),
    # The secret died with the process before it was stored: the new key is discarded.
    "after_discard": (["rotation.before_store=abort", "rotation.after_discard=abort"], "plain"),
    "before_promote": (["rotation.before_promote=abort"], "plain"),
    # Before the command is sent, and after it was sent but before its id was saved: on
    # resume the host still gets the new version and acknowledges it.
    "before_distribute": (["rotation.before_distribute=abort"], "host"),
    "after_distribute": (["rotation.after_distribute=abort"], "host"),
    "after_promote": (["rotation.after_promote=abort"], "plain"),
    "before_deactivate": (["rotation.before_deactivate=abort"], "plain"),
    "after_deactivate": (["rotation.after_deactivate=abort"], "plain"),
    "before_reactivate": (["rotation.before_reactivate=abort"], "laggard"),
    "after_reactivate": (["rotation.after_reactivate=abort"], "laggard"),
    "before_delete": (["rotation.before_delete=abort"], "plain"),
    "after_delete": (["rotation.after_delete=abort"], "plain"),
}
ROLE = "KeywardFaultsHostRole"


def hosts_available():
    """Whether the "host" cases can run: an agent binary and mount/UTS namespaces."""
    return os.path.exists(AGENT_BIN) and can_isolate_hosts()


def engine_failpoints():
    """Every failpoint name the engine's source hits."""
    import re
    src = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(
        __file__)))), "src", "rotation", "rotation_engine.cpp")
    with open(src) as f:
        return set(re.findall(r'Hit\("(rotation\.[a-z_]+)"\)', f.read()))


def test_every_failpoint_of_the_engine_has_a_case():
    covered = {f"rotation.{name}" for name in CASES}
    assert engine_failpoints() == covered


class Case:
    def __init__(self, root, name, lives, kind):
        self.name, self.lives, self.kind = name, lives, kind
        self.dir = os.path.join(root, name)
        os.makedirs(self.dir, exist_ok=True)
        self.data = os.path.join(self.dir, "data")
        self.config = write_config(os.path.join(self.dir, "config.yaml"))
        self.port = free_port()
        self.exits = []
        self.result = {}
        self.error = None
        self.agent = None

    def start(self, failpoints):
        return Process(self.data, self.port, failpoints, config=self.config)

    def run(self):
        try:
            self._run()
        except Exception as e:  # reported by the test of this case
            self.error = f"{type(e).__name__}: {e}"

    def _run(self):
        srv = self.start(self.lives[0])
        ak, sk = srv.admin_key, srv.admin_secret

        def admin(service, target, payload):
            status, body = json_call(HOST, self.port, ak, sk, service, target, payload)
            assert status == 200, f"{target}: HTTP {status} {body}"
            return json.loads(body or "{}")

        def iam(action, **params):
            body = "&".join([f"Action={action}", "Version=2010-05-08"] +
                            [f"{k}={v}" for k, v in params.items()])
            status, text = signed_call_iam(self.port, ak, sk, body)
            assert status == 200, f"{action}: HTTP {status} {text}"
            return text

        user, secret = f"svc-{self.name.replace('_', '-')}", f"creds/{self.name}"
        iam("CreateUser", UserName=user)
        key = json.loads(admin_json_key(self.port, ak, sk, user))
        if self.kind == "spare":
            spare = json.loads(admin_json_key(self.port, ak, sk, user))
            iam("UpdateAccessKey", UserName=user, AccessKeyId=spare["AccessKeyId"], Status="Inactive")
        admin("secretsmanager", "CreateSecret", {"Name": secret, "SecretString": json.dumps({
            "aws_access_key_id": key["AccessKeyId"], "aws_secret_access_key": key["SecretAccessKey"]})})
        policy = {"UserName": user, "SecretId": secret, "Delivery": {"Type": "none"},
                  "QuietPeriodSeconds": 1, "AckTimeoutSeconds": 60,
                  "GracePeriodSeconds": 3 if self.kind == "laggard" else 1}
        if self.kind == "host":
            instance_id = self._start_host(srv)
            policy["Delivery"] = {"Type": "document", "Parameters": {
                "document": "AWS-RunShellScript", "param:commands": "true"}}
            policy["Targets"] = [{"Key": "InstanceIds", "Values": [instance_id]}]
            self.result["instance_id"] = instance_id
        if self.kind == "cron":
            policy["ScheduleExpression"] = "cron(* * * * ? *)"
        else:
            policy["AutomaticallyAfterDays"] = 90
        policy_id = admin("keyward", "CreateRotationPolicy", policy)["RotationPolicy"]["PolicyId"]

        def current_pair():
            status, body = json_call(HOST, self.port, ak, sk, "secretsmanager", "GetSecretValue",
                                     {"SecretId": secret})
            if status != 200:
                raise AssertionError(f"GetSecretValue: HTTP {status} {body}")
            v = json.loads(json.loads(body)["SecretString"])
            return v["aws_access_key_id"], v["aws_secret_access_key"]

        consumer = Consumer(HOST, self.port, current_pair, interval=0.05)
        consumer.start()
        laggard = None
        try:
            if self.kind == "cron":
                rotation_id = None
            else:
                rotation_id = admin("keyward", "RotateNow", {"PolicyId": policy_id})["Rotation"]["RotationId"]
            if self.kind == "laggard":
                laggard = threading.Thread(target=self._laggard, args=(rotation_id, ak, sk, key),
                                           daemon=True)
                laggard.start()
            for spec in self.lives[1:] + [""]:
                # The armed failpoint kills the process; then the next life starts.
                code = srv.wait_exit(timeout=90 if self.kind == "cron" else 30)
                self.exits.append(code)
                if code is None:
                    out = srv.output()[-2000:]
                    srv.stop()
                    raise AssertionError(f"the server did not die at {self.lives}: {out}")
                srv.log.close()
                srv = self.start(spec)
            if rotation_id is None:
                rotation_id = admin("keyward", "GetRotationPolicy", {"PolicyId": policy_id})[
                    "RotationPolicy"]["LastRotationId"]
            deadline = time.time() + 40
            while True:
                r = admin("keyward", "GetRotation", {"RotationId": rotation_id})["Rotation"]
                if r["Step"] in ("done", "failed") or time.time() > deadline:
                    break
                time.sleep(0.1)
            self.result["rotation"] = r
            keys = iam_list_keys(self.port, ak, sk, user)
            self.result["keys"] = keys
            self.result["current"] = current_pair()[0]
            self.result["old"] = key["AccessKeyId"]
            describe = admin("secretsmanager", "DescribeSecret", {"SecretId": secret})
            self.result["stages"] = describe.get("VersionIdsToStages", {})
            time.sleep(0.3)  # a few more consumer requests with the final key
        finally:
            consumer.stop()
            srv.stop()
            if self.agent:
                self.agent.kill()
        if laggard:
            laggard.join(timeout=5)
        self.result["consumer"] = {"ok": consumer.ok, "down": consumer.down,
                                   "failures": consumer.failures, "keys": consumer.keys_used}

    def _start_host(self, srv):
        """One registered, online agent host for this case's server; its instance id."""
        import boto3
        from botocore.config import Config

        def client(service):
            return boto3.client(service, endpoint_url=srv.endpoint, region_name="us-east-1",
                                aws_access_key_id=srv.admin_key,
                                aws_secret_access_key=srv.admin_secret,
                                config=Config(retries={"max_attempts": 1}))
        trust = {"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"Service": "ssm.amazonaws.com"},
            "Action": "sts:AssumeRole"}]}
        client("iam").create_role(RoleName=ROLE, AssumeRolePolicyDocument=json.dumps(trust))
        ssm = client("ssm")
        act = ssm.create_activation(IamRole=ROLE, RegistrationLimit=1)
        self.agent = Agent(Host(self.dir, "host"), srv.endpoint)
        self.agent.register(act["ActivationId"], act["ActivationCode"])
        self.agent.start()
        instance_id = self.agent.instance_id

        def online():
            info = ssm.describe_instance_information(Filters=[
                {"Key": "InstanceIds", "Values": [instance_id]}])["InstanceInformationList"]
            return info and info[0]["PingStatus"] == "Online"
        wait_for(online, timeout=30, what="the host online")
        return instance_id

    def _laggard(self, rotation_id, ak, sk, old):
        """Once the old key is Inactive (grace), one request signed with it: the engine
        sees the refused attempt and reactivates the key."""
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                status, body = json_call(HOST, self.port, ak, sk, "keyward", "GetRotation",
                                         {"RotationId": rotation_id})
                if status == 200 and json.loads(body)["Rotation"]["Step"] == "grace":
                    status, _ = caller_identity(HOST, self.port, old["AccessKeyId"],
                                                old["SecretAccessKey"])
                    self.result["laggard_status"] = status
                    return
            except ServerDown:
                pass
            time.sleep(0.05)


def signed_call_iam(port, ak, sk, body):
    from rotation_client import signed_call
    return signed_call(HOST, port, ak, sk, "iam", body,
                       {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})


def admin_json_key(port, ak, sk, user):
    """CreateAccessKey, as JSON {AccessKeyId, SecretAccessKey}."""
    import xml.etree.ElementTree as ET
    status, text = signed_call_iam(port, ak, sk,
                                   f"Action=CreateAccessKey&Version=2010-05-08&UserName={user}")
    assert status == 200, text
    root = ET.fromstring(text)
    out = {}
    for el in root.iter():
        tag = el.tag.split("}")[-1]
        if tag in ("AccessKeyId", "SecretAccessKey"):
            out[tag] = el.text
    return json.dumps(out)


def iam_list_keys(port, ak, sk, user):
    import xml.etree.ElementTree as ET
    status, text = signed_call_iam(port, ak, sk,
                                   f"Action=ListAccessKeys&Version=2010-05-08&UserName={user}")
    assert status == 200, text
    keys = []
    for member in ET.fromstring(text).iter():
        if member.tag.split("}")[-1] != "member":
            continue
        fields = {c.tag.split("}")[-1]: c.text for c in member}
        if "AccessKeyId" in fields:
            keys.append({"AccessKeyId": fields["AccessKeyId"], "Status": fields.get("Status")})
    return keys


@pytest.fixture(scope="module")
def cases(tmp_root):
    if not os.path.exists(BIN):
        pytest.fail(f"keyward binary not found at {BIN}; build first")
    root = os.path.join(tmp_root, "rotation-faults")
    # The cron case first: it waits for the next minute while the others run.
    # The host cases next: registering their agent takes a few seconds more.
    names = [n for n in CASES if hosts_available() or CASES[n][1] != "host"]
    first = ["after_claim"] + [n for n in names if CASES[n][1] == "host"]
    order = first + [n for n in names if n not in first]
    all_cases = {n: Case(root, n, *CASES[n]) for n in order}
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda c: c.run(), all_cases.values()))
    return all_cases


@pytest.mark.parametrize("name", list(CASES))
def test_rotation_survives_a_process_death_at(cases, name):
    if name not in cases:
        pytest.skip("no keyward-agent, or this machine does not allow mount/UTS namespaces "
                    "(unshare), needed for a host that acknowledges")
    case = cases[name]
    assert case.error is None, case.error
    # Each armed life really died at its failpoint (abort(): SIGABRT).
    assert case.exits == [-signal.SIGABRT] * len(case.lives), case.exits
    res = case.result
    r = res["rotation"]
    assert r["Step"] == "done", r
    # Exactly one key, Active, the one in AWSCURRENT, and not the old one: no orphan.
    assert len(res["keys"]) == 1, res["keys"]
    assert res["keys"][0]["Status"] == "Active"
    assert res["keys"][0]["AccessKeyId"] == res["current"] == r["NewAccessKeyId"]
    assert res["current"] != res["old"]
    stages = sorted(s for v in res["stages"].values() for s in v)
    assert stages == ["AWSCURRENT", "AWSPREVIOUS"], res["stages"]
    # The consumer: every answered request succeeded, with the old key and then the new.
    c = res["consumer"]
    assert c["failures"] == [], c["failures"][:3]
    assert c["ok"] > 0 and res["current"] in c["keys"], c
    if case.kind == "laggard":
        assert res.get("laggard_status") == 403, res.get("laggard_status")
        assert any(f["Reactivated"] for f in r["Findings"]), r["Findings"]
    if case.kind == "host":
        # The host got the new version and acknowledged it: the rotation went on because of
        # that acknowledgement, not past it.
        hosts = [(h["InstanceId"], h["Status"]) for h in r["Hosts"]]
        assert hosts == [(res["instance_id"], "acked")], r["Hosts"]
