"""The AWS Secrets Manager store and the AWS SSM delivery (issue 7), with the external
IAM issuer, against moto's server with authentication enforced.

keyward signs as a "rotator" user that holds only the actions of the policy `keyward aws
bootstrap` prints for it (moto checks actions, not resources, so the resources are
widened to "*" here; the bootstrap test checks them). A full rotation runs through the
server and then through `keyward rotate --once`; moto records SendCommand and reports
every invocation a success, so the test checks the command, its document and targets.
A secret without the key fields stops the rotation at preflight, before any key exists.

Then the same delivery against a second keyward server, whose SSM runs the documents on a
real keyward-agent: success completes, a failed or timed-out invocation holds the rotation
with the old key active, tags resolve at that SSM endpoint; and the mixes: keyward's own
issuer and store with the SSM delivery, the AWS store with keyward's own agents.
"""
import json
import os
import subprocess
import time

import pytest

from aws_moto import HAVE_MOTO, Moto, bootstrap, run_keyward
from conftest import BIN, REGION, Server
from test_external_issuer import environment, keyward_call

pytestmark = pytest.mark.skipif(not HAVE_MOTO, reason="moto is not installed")

INSTANCE = "mi-0aaaaaaaaaaaaaaa1"
USER = "app"
SECRET = "iam-user-app"


def widen(policy):
    """The bootstrap policy's actions on every resource (what moto can check)."""
    statements = []
    for st in policy["Statement"]:
        statements.append({"Effect": "Allow", "Action": st["Action"], "Resource": "*"})
    return {"Version": "2012-10-17", "Statement": statements}


@pytest.fixture(scope="module")
def world(tmp_root):
    root = os.path.join(tmp_root, "aws-targets")
    os.makedirs(root, exist_ok=True)
    m = Moto(root)
    try:
        iam = m.client("iam")
        iam.create_user(UserName=USER)
        key = iam.create_access_key(UserName=USER)["AccessKey"]
        secret_file = os.path.join(root, "app-secret")
        with open(secret_file, "w") as f:
            f.write(key["SecretAccessKey"])
        p, boot = bootstrap(m.endpoint, m.admin_key, m.admin_secret, "--user", USER,
                            "--secret-name", SECRET, "--instance-ids", INSTANCE, "--apply",
                            "--access-key-id", key["AccessKeyId"],
                            "--secret-access-key-file", secret_file)
        assert p.returncode == 0, p.stderr
        iam.create_user(UserName="rotator")
        iam.put_user_policy(UserName="rotator", PolicyName="keyward",
                            PolicyDocument=json.dumps(widen(boot["KeywardPolicy"])))
        rot = iam.create_access_key(UserName="rotator")["AccessKey"]
        cred_file = os.path.join(root, "credentials")
        with open(cred_file, "w") as f:
            f.write(f"[rotator]\naws_access_key_id = {rot['AccessKeyId']}\n"
                    f"aws_secret_access_key = {rot['SecretAccessKey']}\n")
        conn = {"profile": "rotator", "region": REGION, "calls_per_second": 50, "burst": 10,
                "timeout_seconds": 5, "max_attempts": 3}
        integrations = os.path.join(root, "integrations.yaml")
        with open(integrations, "w") as f:
            json.dump({"issuers": {"aws": {"type": "aws-iam", "endpoint": m.endpoint,
                                           "sts_endpoint": m.endpoint, **conn}},
                       "stores": {"sm": {"type": "aws-secretsmanager", "endpoint": m.endpoint,
                                         **conn}},
                       "deliveries": {"ssm": {"type": "aws-ssm", "endpoint": m.endpoint,
                                              **conn}}}, f)
        env = {"AWS_SHARED_CREDENTIALS_FILE": cred_file, "AWS_CONFIG_FILE": "/dev/null",
               "AWS_EC2_METADATA_DISABLED": "true"}
        yield {"moto": m, "root": root, "integrations": integrations, "env": env,
               "key": key, "data": os.path.join(root, "kw")}
    finally:
        m.stop()


def start_server(w, extra=()):
    with environment(**w["env"]):
        return Server(w["data"], extra_args=("--integrations", w["integrations"], *extra))


def current_key(m):
    # VersionStage explicitly: moto's GetSecretValue without it keeps returning the first
    # version after UpdateSecretVersionStage moved AWSCURRENT (AWS returns AWSCURRENT).
    return json.loads(m.client("secretsmanager").get_secret_value(
        SecretId=SECRET, VersionStage="AWSCURRENT")["SecretString"])["aws_access_key_id"]


def wait_step(kw, rid, steps, timeout=60):
    deadline = time.time() + timeout
    while True:
        r = keyward_call(kw, "GetRotation", {"RotationId": rid})["Rotation"]
        if r["Step"] in steps or time.time() > deadline:
            return r
        time.sleep(0.3)


def test_full_rotation_then_rotate_once(world):
    m = world["moto"]
    old_key = world["key"]["AccessKeyId"]
    kw = start_server(world)
    try:
        policy = keyward_call(kw, "CreateRotationPolicy", {
            "UserName": USER, "SecretId": SECRET, "Issuer": "aws", "SecretTarget": "sm",
            "Delivery": {"Type": "ssm", "Parameters": {"max_concurrency": "1"}},
            "Targets": [{"Key": "InstanceIds", "Values": [INSTANCE]}],
            "AutomaticallyAfterDays": 90, "QuietPeriodSeconds": 1, "AckTimeoutSeconds": 60,
            "GracePeriodSeconds": 1})["RotationPolicy"]
        rid = keyward_call(kw, "RotateNow", {"PolicyId": policy["PolicyId"]})["Rotation"]["RotationId"]
        r = wait_step(kw, rid, ("done", "failed"))
        assert r["Step"] == "done", r
    finally:
        kw.stop()

    # The secret's AWSCURRENT holds the new key; the old one is gone from IAM.
    new_key = current_key(m)
    assert new_key != old_key
    keys = m.client("iam").list_access_keys(UserName=USER)["AccessKeyMetadata"]
    assert [k["AccessKeyId"] for k in keys] == [new_key]
    versions = m.client("secretsmanager").list_secret_version_ids(SecretId=SECRET)["Versions"]
    stages = {v["VersionId"]: sorted(v.get("VersionStages", [])) for v in versions}
    assert sorted(stages.values()) == [["AWSCURRENT"], ["AWSPREVIOUS"]], stages

    # The command moto recorded: the bootstrap's document, to the policy's instance,
    # reading this secret, with the spec's limits.
    commands = m.client("ssm").list_commands()["Commands"]
    assert len(commands) == 1, commands
    c = commands[0]
    assert c["DocumentName"] == "KeywardOverwriteSecretValue"
    assert c["InstanceIds"] == [INSTANCE]
    assert c["Parameters"] == {"SecretId": [SECRET]}
    assert c["MaxConcurrency"] == "1" and c["MaxErrors"] == "0"
    assert rid in c["Comment"]

    # Again, queued through a server that does not tick (rotation_tick_ms of a minute), and
    # run to the end by `keyward rotate --once` with the server stopped.
    config = os.path.join(world["root"], "slow.yaml")
    with open(config, "w") as f:
        f.write("rotation_tick_ms: 60000\n")
    kw = start_server(world, ("--config", config))
    try:
        rid2 = keyward_call(kw, "RotateNow", {"PolicyId": policy["PolicyId"]})["Rotation"]["RotationId"]
        time.sleep(0.5)
        assert keyward_call(kw, "GetRotation", {"RotationId": rid2})["Rotation"]["Step"] == "queued"
        # Never two engines over one store: with the server up, rotate --once refuses.
        p = run_keyward(["rotate", "--once", "--data-dir", world["data"], "--integrations",
                         world["integrations"]], "unused", "unused", extra_env=world["env"])
        assert p.returncode == 1, p.stdout + p.stderr
        assert "a keyward server" in p.stderr and "is running" in p.stderr, p.stderr
        assert keyward_call(kw, "GetRotation", {"RotationId": rid2})["Rotation"]["Step"] == "queued"
    finally:
        kw.stop()
    p = run_keyward(["rotate", "--once", "--data-dir", world["data"], "--integrations",
                     world["integrations"], "--wait", "30"], "unused", "unused",
                    extra_env=world["env"], timeout=90)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "1 completed" in p.stdout and "0 in progress" in p.stdout, p.stdout
    third_key = current_key(m)
    assert third_key not in (old_key, new_key)
    keys = m.client("iam").list_access_keys(UserName=USER)["AccessKeyMetadata"]
    assert [k["AccessKeyId"] for k in keys] == [third_key]
    assert len(m.client("ssm").list_commands()["Commands"]) == 2


def test_rotate_once_reports_what_waits(world):
    """Nothing to do: exit 0. A data directory that does not exist: an error, not a new
    keyward."""
    p = run_keyward(["rotate", "--once", "--data-dir", world["data"], "--integrations",
                     world["integrations"]], "unused", "unused", extra_env=world["env"])
    assert p.returncode == 0, p.stdout + p.stderr
    assert "0 started, 0 completed, 0 failed, 0 in progress" in p.stdout, p.stdout
    missing = os.path.join(world["root"], "nope")
    p = run_keyward(["rotate", "--once", "--data-dir", missing], "unused", "unused",
                    extra_env=world["env"])
    assert p.returncode == 1
    assert "not a keyward data directory" in p.stderr
    assert not os.path.exists(os.path.join(missing, "keyward.db"))


def test_secret_without_key_fields_stops_at_preflight(world):
    m = world["moto"]
    iam = m.client("iam")
    iam.create_user(UserName="bad")
    iam.create_access_key(UserName="bad")
    m.client("secretsmanager").create_secret(
        Name="bad-secret", SecretString=json.dumps({"username": "bad", "password": "p"}))
    kw = start_server(world)
    try:
        policy = keyward_call(kw, "CreateRotationPolicy", {
            "UserName": "bad", "SecretId": "bad-secret", "Issuer": "aws", "SecretTarget": "sm",
            "Delivery": {"Type": "ssm"}, "Targets": [{"Key": "InstanceIds", "Values": [INSTANCE]}],
            "AutomaticallyAfterDays": 90, "QuietPeriodSeconds": 1, "GracePeriodSeconds": 1})
        rid = keyward_call(kw, "RotateNow", {"PolicyId": policy["RotationPolicy"]["PolicyId"]})[
            "Rotation"]["RotationId"]
        r = wait_step(kw, rid, ("failed", "done", "create", "store"), timeout=30)
        assert r["Step"] == "failed", r
        assert "aws_access_key_id" in r["FailureReason"], r
        assert "create" not in [h["Step"] for h in r["History"]], r["History"]
        assert "NewAccessKeyId" not in r
    finally:
        kw.stop()
    assert len(iam.list_access_keys(UserName="bad")["AccessKeyMetadata"]) == 1
    assert len(m.client("secretsmanager").list_secret_version_ids(SecretId="bad-secret")
               ["Versions"]) == 1


def test_store_and_delivery_retry_through_throttling_errors_and_timeouts(world):
    """Secrets Manager and SSM behind a proxy that answers every third call with a fault,
    in turn ThrottlingException, HTTP 500, and a delay past the client's timeout (the call
    took effect, its answer is lost): the rotation still completes, with one AWSCURRENT
    and no stray key, and the faults hit both services."""
    from fault_proxy import FaultProxy

    class EveryThirdCall(FaultProxy):
        # Deterministic, unlike a rate: each service makes only a handful of calls.
        calls = 0

        def _draw(self):
            with self._lock:
                self.calls += 1
                if self.calls % 3:
                    return None
                return self.kinds[(self.calls // 3 - 1) % len(self.kinds)]

    m = world["moto"]
    iam = m.client("iam")
    iam.create_user(UserName="faulty")
    old = iam.create_access_key(UserName="faulty")["AccessKey"]
    m.client("secretsmanager").create_secret(Name="faulty-key", SecretString=json.dumps({
        "aws_access_key_id": old["AccessKeyId"], "aws_secret_access_key": old["SecretAccessKey"]}))
    proxy = EveryThirdCall(m.endpoint, delay=1.6).start()
    root = world["root"]
    try:
        with open(world["integrations"]) as f:
            entries = json.load(f)
        faulty = {"endpoint": proxy.endpoint, "timeout_seconds": 1, "max_attempts": 10,
                  "calls_per_second": 100, "burst": 20}
        entries["stores"]["sm"].update(faulty)
        entries["deliveries"]["ssm"].update(faulty)
        integrations = os.path.join(root, "faulty.yaml")
        with open(integrations, "w") as f:
            json.dump(entries, f)
        with environment(**world["env"]):
            kw = Server(os.path.join(root, "kw-faulty"),
                        extra_args=("--integrations", integrations))
        try:
            policy = keyward_call(kw, "CreateRotationPolicy", {
                "UserName": "faulty", "SecretId": "faulty-key", "Issuer": "aws",
                "SecretTarget": "sm", "Delivery": {"Type": "ssm"},
                "Targets": [{"Key": "InstanceIds", "Values": [INSTANCE]}],
                "AutomaticallyAfterDays": 90, "QuietPeriodSeconds": 1,
                "AckTimeoutSeconds": 60, "GracePeriodSeconds": 1})["RotationPolicy"]
            rid = keyward_call(kw, "RotateNow", {"PolicyId": policy["PolicyId"]})[
                "Rotation"]["RotationId"]
            r = wait_step(kw, rid, ("done", "failed"), timeout=120)
            assert r["Step"] == "done", r
        finally:
            kw.stop()
    finally:
        proxy.stop()
    value = json.loads(m.client("secretsmanager").get_secret_value(
        SecretId="faulty-key", VersionStage="AWSCURRENT")["SecretString"])
    keys = iam.list_access_keys(UserName="faulty")["AccessKeyMetadata"]
    assert [k["AccessKeyId"] for k in keys] == [value["aws_access_key_id"]] == \
        [r["NewAccessKeyId"]], keys
    versions = m.client("secretsmanager").list_secret_version_ids(SecretId="faulty-key")["Versions"]
    stages = sorted(sorted(v.get("VersionStages", [])) for v in versions)
    assert stages == [["AWSCURRENT"], ["AWSPREVIOUS"]], versions
    faults = [(fault, action) for fault, action in proxy.actions if fault != "ok"]
    assert any(a.startswith("secretsmanager.") for _, a in faults), proxy.actions
    assert any(a.startswith("AmazonSSM.") for _, a in faults), proxy.actions
    assert faults[0][0] == "throttle" and len(faults) >= 2, proxy.actions


# ---- the same delivery against a second keyward server, where agents really run ----

ROLE = "AmazonEC2RunCommandRoleForManagedInstances"


def shell_document(*commands, timeout=None):
    inputs = {"runCommand": list(commands)}
    if timeout is not None:
        inputs["timeoutSeconds"] = timeout
    return json.dumps({"schemaVersion": "2.2", "description": "test", "mainSteps": [{
        "action": "aws:runShellScript", "name": "run", "inputs": inputs}]})


@pytest.fixture(scope="module")
def agent_world(tmp_root):
    """keyward server "aws" (IAM, Secrets Manager, SSM with one real agent) and the keyward
    server under test, whose issuer, store and delivery all point at "aws"."""
    from fleet import Agent, Host, can_isolate_hosts, wait_for
    if not os.path.exists(os.environ.get("KEYWARD_AGENT_BIN", "")):
        pytest.skip("keyward-agent is not built (KEYWARD_AGENT_BIN)")
    if not can_isolate_hosts():
        pytest.skip("this machine does not allow mount/UTS namespaces (unshare)")
    root = os.path.join(tmp_root, "aws-targets-agents")
    os.makedirs(root, exist_ok=True)
    for d in (tmp_root, root):
        os.chmod(d, 0o755)
    aws = Server(os.path.join(root, "aws"))
    agent = None
    kw = None
    try:
        iam = aws.client("iam")
        trust = {"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"Service": "ssm.amazonaws.com"},
            "Action": "sts:AssumeRole"}]}
        iam.create_role(RoleName=ROLE, AssumeRolePolicyDocument=json.dumps(trust))
        host = Host(root, "ssmhost")
        os.chmod(host.dir, 0o755)
        agent = Agent(host, aws.endpoint)
        ssm = aws.client("ssm")
        act = ssm.create_activation(IamRole=ROLE, RegistrationLimit=1)
        agent.register(act["ActivationId"], act["ActivationCode"])
        # The tag that the tag targets below name. (AWS also copies an activation's tags to
        # the instances it registers; keyward's fleet does not yet, so it is set here.)
        ssm.add_tags_to_resource(ResourceType="ManagedInstance", ResourceId=agent.instance_id,
                                 Tags=[{"Key": "Role", "Value": "batch"}])
        agent.start()
        wait_for(lambda: any(i["PingStatus"] == "Online" for i in ssm.describe_instance_information(
            Filters=[{"Key": "InstanceIds", "Values": [agent.instance_id]}])
            ["InstanceInformationList"]), timeout=60, what="the host online")
        ssm.create_document(Name="Installs", DocumentType="Command",
                            Content=shell_document("echo installed"))
        ssm.create_document(Name="Breaks", DocumentType="Command",
                            Content=shell_document("echo cannot write the file >&2", "exit 3"))
        # A command that outlasts its step's execution timeout: the agent kills it and
        # reports TimedOut (SSM: Status TimedOut, StatusDetails ExecutionTimedOut).
        ssm.create_document(Name="Hangs", DocumentType="Command",
                            Content=shell_document("sleep 30", timeout=2))
        cred_file = os.path.join(root, "credentials")
        with open(cred_file, "w") as f:
            f.write(f"[aws]\naws_access_key_id = {aws.admin_key}\n"
                    f"aws_secret_access_key = {aws.admin_secret}\n")
        conn = {"endpoint": aws.endpoint, "profile": "aws", "region": REGION,
                "calls_per_second": 50, "burst": 10, "timeout_seconds": 5, "max_attempts": 3}
        integrations = os.path.join(root, "integrations.yaml")
        with open(integrations, "w") as f:
            json.dump({"issuers": {"aws": {"type": "aws-iam", "sts_endpoint": aws.endpoint,
                                           **conn}},
                       "stores": {"sm": {"type": "aws-secretsmanager", **conn}},
                       "deliveries": {"ssm": {"type": "aws-ssm", **conn}}}, f)
        with environment(AWS_SHARED_CREDENTIALS_FILE=cred_file, AWS_CONFIG_FILE="/dev/null",
                         AWS_EC2_METADATA_DISABLED="true"):
            kw = Server(os.path.join(root, "kw"), extra_args=("--integrations", integrations))
        yield {"aws": aws, "kw": kw, "agent": agent, "iam": iam}
    finally:
        if kw:
            kw.stop()
        if agent:
            agent.kill()
        aws.stop()


def rotate_with_document(w, user, document, targets=None, delivery=None, builtin=False):
    """A user with a key and its secret, and a rotation started of a policy over them.
    Default: issuer "aws", store "sm" and the SSM delivery of `document`, all at the
    "aws" server. builtin=True: keyward's own issuer and store (the user and secret live
    in the server under test). `delivery` replaces the Delivery member."""
    where = w["kw"] if builtin else w["aws"]
    iam = where.client("iam")
    iam.create_user(UserName=user)
    key = iam.create_access_key(UserName=user)["AccessKey"]
    where.client("secretsmanager").create_secret(Name=f"{user}-key", SecretString=json.dumps({
        "aws_access_key_id": key["AccessKeyId"], "aws_secret_access_key": key["SecretAccessKey"]}))
    spec = {"UserName": user, "SecretId": f"{user}-key",
            "Delivery": delivery or {"Type": "ssm", "Parameters": {"document": document}},
            "Targets": targets or [{"Key": "InstanceIds", "Values": [w["agent"].instance_id]}],
            "AutomaticallyAfterDays": 90, "QuietPeriodSeconds": 1, "AckTimeoutSeconds": 300,
            "GracePeriodSeconds": 1}
    if not builtin:
        spec.update({"Issuer": "aws", "SecretTarget": "sm"})
    policy = keyward_call(w["kw"], "CreateRotationPolicy", spec)["RotationPolicy"]
    rid = keyward_call(w["kw"], "RotateNow", {"PolicyId": policy["PolicyId"]})["Rotation"]["RotationId"]
    return key, rid


def test_agent_that_succeeds_acknowledges_and_rotation_completes(agent_world):
    w = agent_world
    key, rid = rotate_with_document(w, "agentok", "Installs")
    r = wait_step(w["kw"], rid, ("done", "failed"), timeout=90)
    assert r["Step"] == "done", r
    assert [h["Status"] for h in r["Hosts"]] == ["acked"], r["Hosts"]
    keys = w["iam"].list_access_keys(UserName="agentok")["AccessKeyMetadata"]
    assert [k["AccessKeyId"] for k in keys] == [r["NewAccessKeyId"]]


def test_failed_invocation_holds_the_rotation_with_the_old_key_active(agent_world):
    w = agent_world
    key, rid = rotate_with_document(w, "agentbad", "Breaks")
    deadline = time.time() + 60
    while True:
        r = keyward_call(w["kw"], "GetRotation", {"RotationId": rid})["Rotation"]
        if "failed:" in r.get("WaitingReason", "") or time.time() > deadline:
            break
        time.sleep(0.5)
    assert r["Step"] == "distribute", r
    assert "Failed" in r["WaitingReason"], r
    assert [h["Status"] for h in r["Hosts"]] == ["failed"], r["Hosts"]
    time.sleep(2)  # longer than the quiet period: still nothing deactivated
    keys = {k["AccessKeyId"]: k["Status"]
            for k in w["iam"].list_access_keys(UserName="agentbad")["AccessKeyMetadata"]}
    assert keys[key["AccessKeyId"]] == "Active"
    assert keyward_call(w["kw"], "GetRotation", {"RotationId": rid})["Rotation"]["Step"] == \
        "distribute"


def test_timed_out_invocation_holds_the_rotation_with_the_old_key_active(agent_world):
    """The agent really runs the command and kills it at the step's timeoutSeconds: the
    invocation is TimedOut (ExecutionTimedOut), which holds the rotation like a failure,
    and the reason names the host and the status."""
    w = agent_world
    host = w["agent"].instance_id
    key, rid = rotate_with_document(w, "agentslow", "Hangs")
    r = wait_reason(w, rid, "failed:", timeout=60)
    assert r["Step"] == "distribute", r
    reason = r["WaitingReason"]
    assert f"{host} (failed: SSM command" in reason, reason
    assert "TimedOut" in reason and "ExecutionTimedOut" in reason, reason
    assert "the old key stays active" in reason, reason
    assert [(h["InstanceId"], h["Status"]) for h in r["Hosts"]] == [(host, "failed")], r["Hosts"]
    # What the SSM endpoint itself says about that invocation.
    commands = w["aws"].client("ssm").list_commands(
        Filters=[{"key": "DocumentName", "value": "Hangs"}])["Commands"]
    mine = [c for c in commands if rid in c["Comment"]]
    assert len(mine) == 1, commands
    inv = w["aws"].client("ssm").get_command_invocation(CommandId=mine[0]["CommandId"],
                                                        InstanceId=host)
    assert (inv["Status"], inv["StatusDetails"]) == ("TimedOut", "ExecutionTimedOut"), inv
    time.sleep(2)  # longer than the quiet period: still nothing deactivated
    keys = {k["AccessKeyId"]: k["Status"]
            for k in w["iam"].list_access_keys(UserName="agentslow")["AccessKeyMetadata"]}
    assert keys[key["AccessKeyId"]] == "Active"
    assert len(keys) == 2, keys  # the new key exists, but the old one was not touched
    r = keyward_call(w["kw"], "GetRotation", {"RotationId": rid})["Rotation"]
    assert r["Step"] == "distribute", r


def test_builtin_issuer_and_store_with_the_ssm_delivery(agent_world):
    """A mix: keyward's own IAM and Secrets Manager (the server under test), and the
    delivery through SSM at the other endpoint, where the agent runs the document."""
    w = agent_world
    kw = w["kw"]
    key, rid = rotate_with_document(w, "mixlocal", "Installs", builtin=True)
    r = wait_step(kw, rid, ("done", "failed"), timeout=90)
    assert r["Step"] == "done", r
    assert r["Issuer"] == "builtin", r
    assert [(h["InstanceId"], h["Status"]) for h in r["Hosts"]] == \
        [(w["agent"].instance_id, "acked")], r["Hosts"]
    keys = kw.client("iam").list_access_keys(UserName="mixlocal")["AccessKeyMetadata"]
    assert [k["AccessKeyId"] for k in keys] == [r["NewAccessKeyId"]]
    value = json.loads(kw.client("secretsmanager").get_secret_value(
        SecretId="mixlocal-key", VersionStage="AWSCURRENT")["SecretString"])
    assert value["aws_access_key_id"] == r["NewAccessKeyId"] != key["AccessKeyId"]
    # The command went out through the other endpoint's SSM; its IAM and Secrets Manager
    # were not involved.
    commands = w["aws"].client("ssm").list_commands(
        Filters=[{"key": "DocumentName", "value": "Installs"}])["Commands"]
    assert [c["InstanceIds"] for c in commands if rid in c["Comment"]] == \
        [[w["agent"].instance_id]], commands
    with pytest.raises(Exception):
        w["iam"].list_access_keys(UserName="mixlocal")
    with pytest.raises(Exception):
        w["aws"].client("secretsmanager").describe_secret(SecretId="mixlocal-key")


# ---- tag targets with the SSM delivery: resolved through SSM's managed instances ----

def wait_reason(w, rid, text, timeout=60):
    deadline = time.time() + timeout
    while True:
        r = keyward_call(w["kw"], "GetRotation", {"RotationId": rid})["Rotation"]
        if text in r.get("WaitingReason", "") or time.time() > deadline:
            return r
        time.sleep(0.5)


def test_tag_target_resolves_to_the_managed_instances_of_the_ssm_endpoint(agent_world):
    """The server under test has no agent of its own: the tag can only be resolved by
    DescribeInstanceInformation at the SSM endpoint ("aws"), where the agent registered
    with Role=batch."""
    w = agent_world
    own = w["kw"].client("ssm").describe_instance_information()["InstanceInformationList"]
    assert w["agent"].instance_id not in [i["InstanceId"] for i in own], own
    key, rid = rotate_with_document(w, "tagok", "Installs",
                                    [{"Key": "tag:Role", "Values": ["batch"]}])
    r = wait_step(w["kw"], rid, ("done", "failed"), timeout=90)
    assert r["Step"] == "done", r
    assert [(h["InstanceId"], h["Status"]) for h in r["Hosts"]] == \
        [(w["agent"].instance_id, "acked")], r["Hosts"]
    # The command went to the resolved instance by ID (the host set is fixed up front).
    commands = w["aws"].client("ssm").list_commands(
        Filters=[{"key": "DocumentName", "value": "Installs"}])["Commands"]
    mine = [c for c in commands if rid in c["Comment"]]
    assert mine and all(c["InstanceIds"] == [w["agent"].instance_id] for c in mine), mine
    keys = w["iam"].list_access_keys(UserName="tagok")["AccessKeyMetadata"]
    assert [k["AccessKeyId"] for k in keys] == [r["NewAccessKeyId"]]


def test_tag_matching_no_instance_holds_with_the_reason(agent_world):
    w = agent_world
    key, rid = rotate_with_document(w, "tagnone", "Installs",
                                    [{"Key": "tag:Role", "Values": ["nobody-has-this"]}])
    r = wait_reason(w, rid, "match no instance")
    assert r["Step"] == "distribute", r
    assert "tag:Role=nobody-has-this" in r["WaitingReason"], r
    assert "the old key stays active" in r["WaitingReason"], r
    assert r.get("Hosts", []) == [], r
    time.sleep(2)  # longer than the quiet period
    assert keyward_call(w["kw"], "GetRotation", {"RotationId": rid})["Rotation"]["Step"] == \
        "distribute"
    keys = {k["AccessKeyId"]: k["Status"]
            for k in w["iam"].list_access_keys(UserName="tagnone")["AccessKeyMetadata"]}
    assert keys[key["AccessKeyId"]] == "Active"


def test_tag_target_host_whose_invocation_fails_holds_the_rotation(agent_world):
    w = agent_world
    key, rid = rotate_with_document(w, "tagbad", "Breaks",
                                    [{"Key": "tag:Role", "Values": ["batch"]}])
    r = wait_reason(w, rid, "failed:")
    assert r["Step"] == "distribute", r
    assert [(h["InstanceId"], h["Status"]) for h in r["Hosts"]] == \
        [(w["agent"].instance_id, "failed")], r["Hosts"]
    keys = {k["AccessKeyId"]: k["Status"]
            for k in w["iam"].list_access_keys(UserName="tagbad")["AccessKeyMetadata"]}
    assert keys[key["AccessKeyId"]] == "Active"


# ---- the AWS store with keyward's own agents (the other mix) ----

@pytest.fixture(scope="module")
def own_agent(agent_world, tmp_root):
    """A keyward agent registered with the server under test itself (not with "aws")."""
    from fleet import Agent, Host, wait_for
    kw = agent_world["kw"]
    root = os.path.join(tmp_root, "aws-targets-agents")
    trust = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": "ssm.amazonaws.com"},
        "Action": "sts:AssumeRole"}]}
    kw.client("iam").create_role(RoleName=ROLE, AssumeRolePolicyDocument=json.dumps(trust))
    host = Host(root, "kwhost")
    os.chmod(host.dir, 0o755)
    agent = Agent(host, kw.endpoint)
    try:
        ssm = kw.client("ssm")
        act = ssm.create_activation(IamRole=ROLE, RegistrationLimit=1)
        agent.register(act["ActivationId"], act["ActivationCode"])
        agent.start()
        wait_for(lambda: any(i["PingStatus"] == "Online" for i in ssm.describe_instance_information(
            Filters=[{"Key": "InstanceIds", "Values": [agent.instance_id]}])
            ["InstanceInformationList"]), timeout=60, what="the server's own host online")
        yield agent
    finally:
        agent.kill()


def test_aws_store_with_keyward_agents(agent_world, own_agent):
    """A mix: the issuer and store at the other endpoint ("aws"), and the delivery by
    keyward's built-in document delivery to an agent of the server under test."""
    w = agent_world
    kw = w["kw"]
    key, rid = rotate_with_document(
        w, "mixagents", None,
        targets=[{"Key": "InstanceIds", "Values": [own_agent.instance_id]}],
        delivery={"Type": "document", "Parameters": {"document": "AWS-RunShellScript",
                                                     "param:commands": "true"}})
    r = wait_step(kw, rid, ("done", "failed"), timeout=90)
    assert r["Step"] == "done", r
    assert [(h["InstanceId"], h["Status"]) for h in r["Hosts"]] == \
        [(own_agent.instance_id, "acked")], r["Hosts"]
    keys = w["iam"].list_access_keys(UserName="mixagents")["AccessKeyMetadata"]
    assert [k["AccessKeyId"] for k in keys] == [r["NewAccessKeyId"]]
    value = json.loads(w["aws"].client("secretsmanager").get_secret_value(
        SecretId="mixagents-key", VersionStage="AWSCURRENT")["SecretString"])
    assert value["aws_access_key_id"] == r["NewAccessKeyId"] != key["AccessKeyId"]
    # The command ran through the server under test's own Run Command, not "aws"'s SSM;
    # and the secret lives only at "aws".
    own_commands = kw.client("ssm").list_commands(InstanceId=own_agent.instance_id)["Commands"]
    assert any(c["DocumentName"] == "AWS-RunShellScript" for c in own_commands), own_commands
    assert not [c for c in w["aws"].client("ssm").list_commands()["Commands"]
                if rid in c.get("Comment", "")]
    with pytest.raises(Exception):
        kw.client("secretsmanager").describe_secret(SecretId="mixagents-key")
