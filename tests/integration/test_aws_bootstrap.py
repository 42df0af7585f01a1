"""`keyward aws bootstrap` (issue 7): the seed's hand-built AWS setup, printed or applied.

Against moto's server with authentication enforced: --apply creates the secret (with the
user's current key), the SSM document running the seed's script, the instance role and
its one-secret policy, and keyward's own policy; a second --apply reports every one as
existing and changes nothing. Against a keyward server (which implements activations,
unlike moto): the tag form creates an activation with a limit and a short expiry, and
prints the registration command; again, a second run finds it.
"""
import json
import os
import urllib.parse

import pytest

from aws_moto import HAVE_MOTO, Moto, bootstrap, run_keyward, statuses
from conftest import REGION, Server

needs_moto = pytest.mark.skipif(not HAVE_MOTO, reason="moto is not installed")

INSTANCE = "mi-0123456789abcdef0"


@pytest.fixture(scope="module")
def moto_server(tmp_root):
    if not HAVE_MOTO:
        pytest.skip("moto is not installed")
    root = os.path.join(tmp_root, "aws-bootstrap")
    os.makedirs(root, exist_ok=True)
    m = Moto(root)
    yield m, root
    m.stop()


def policy_doc(text):
    return json.loads(urllib.parse.unquote(text) if isinstance(text, str) else json.dumps(text))


@needs_moto
def test_print_changes_nothing_and_apply_twice_is_idempotent(moto_server):
    m, root = moto_server
    iam = m.client("iam")
    iam.create_user(UserName="test001")
    key = iam.create_access_key(UserName="test001")["AccessKey"]
    secret_file = os.path.join(root, "secret-key")
    with open(secret_file, "w") as f:
        f.write(key["SecretAccessKey"] + "\n")
    args = ["--user", "test001", "--secret-name", "iam-user-test001", "--instance-ids", INSTANCE]

    # Default: a plan, nothing created.
    p, plan = bootstrap(m.endpoint, m.admin_key, m.admin_secret, *args)
    assert p.returncode == 0, p.stderr
    assert statuses(plan)[("secret", "iam-user-test001")] == "would create"
    assert m.client("secretsmanager").list_secrets()["SecretList"] == []

    # --apply without the key cannot create the secret.
    p, _ = bootstrap(m.endpoint, m.admin_key, m.admin_secret, *args, "--apply")
    assert p.returncode != 0
    assert "--access-key-id" in p.stderr

    key_args = ["--access-key-id", key["AccessKeyId"], "--secret-access-key-file", secret_file]
    p, first = bootstrap(m.endpoint, m.admin_key, m.admin_secret, *args, *key_args, "--apply")
    assert p.returncode == 0, p.stderr
    assert key["SecretAccessKey"] not in p.stdout + p.stderr  # never printed
    s = statuses(first)
    for resource in [("secret", "iam-user-test001"),
                     ("ssm-document", "KeywardOverwriteSecretValue"),
                     ("iam-role", "AmazonEC2RunCommandRoleForManagedInstances"),
                     ("role-policy", "AmazonEC2RunCommandRoleForManagedInstances/"
                                     "keyward-get-secret-iam-user-test001"),
                     ("iam-policy", "keyward-rotation-test001")]:
        assert s[resource] == "created", (resource, first["Resources"])

    # The secret: the seed's SecretString with the user's current key.
    sm = m.client("secretsmanager")
    value = sm.get_secret_value(SecretId="iam-user-test001")
    assert json.loads(value["SecretString"]) == {"aws_access_key_id": key["AccessKeyId"],
                                                 "aws_secret_access_key": key["SecretAccessKey"]}
    arn = value["ARN"]
    assert first["SecretArn"] == arn

    # The document runs the seed's script (get-secret-value | jq ... > credentials).
    doc = json.loads(m.client("ssm").get_document(Name="KeywardOverwriteSecretValue")["Content"])
    assert doc["schemaVersion"] == "2.2"
    step = doc["mainSteps"][0]
    assert step["action"] == "aws:runShellScript"
    script = " ".join(step["inputs"]["runCommand"])
    assert "aws secretsmanager get-secret-value --secret-id '{{ SecretId }}'" in script
    assert '"aws_access_key_id=" + .aws_access_key_id' in script
    assert "pipefail" in script
    assert doc["parameters"]["SecretId"]["default"] == "iam-user-test001"

    # The instance role may read that one secret and nothing else.
    role_policy = iam.get_role_policy(RoleName="AmazonEC2RunCommandRoleForManagedInstances",
                                      PolicyName="keyward-get-secret-iam-user-test001")
    assert policy_doc(role_policy["PolicyDocument"]) == {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "secretsmanager:GetSecretValue",
                       "Resource": arn}]}
    attached = iam.list_attached_role_policies(
        RoleName="AmazonEC2RunCommandRoleForManagedInstances")["AttachedPolicies"]
    assert [a["PolicyName"] for a in attached] == ["AmazonSSMManagedInstanceCore"]

    # keyward's own policy: the user's keys, that secret, the document on that instance.
    account = m.client("sts").get_caller_identity()["Account"]
    pol_arn = f"arn:aws:iam::{account}:policy/keyward-rotation-test001"
    version = iam.get_policy(PolicyArn=pol_arn)["Policy"]["DefaultVersionId"]
    kw_doc = policy_doc(iam.get_policy_version(PolicyArn=pol_arn, VersionId=version)
                        ["PolicyVersion"]["Document"])
    by_sid = {st["Sid"]: st for st in kw_doc["Statement"]}
    assert by_sid["RotateTheUsersKeys"]["Resource"] == f"arn:aws:iam::{account}:user/test001"
    assert by_sid["StoreTheKey"]["Resource"] == arn
    assert by_sid["RunTheDocument"]["Resource"] == [
        f"arn:aws:ssm:{REGION}:{account}:document/KeywardOverwriteSecretValue"]
    assert by_sid["OnTheHosts"]["Resource"] == [
        f"arn:aws:ssm:{REGION}:{account}:managed-instance/{INSTANCE}"]
    assert kw_doc == first["KeywardPolicy"]

    # Again: everything exists, nothing changes.
    p, second = bootstrap(m.endpoint, m.admin_key, m.admin_secret, *args, *key_args, "--apply")
    assert p.returncode == 0, p.stderr
    for (resource, name), status in statuses(second).items():
        if resource == "managed-instance":
            continue
        assert status == "exists", (resource, name, second["Resources"])
    assert not any(r["Detail"].startswith("WARNING") or "differs" in r["Detail"]
                   for r in second["Resources"]), second["Resources"]
    assert len(sm.list_secret_version_ids(SecretId="iam-user-test001")["Versions"]) == 1


@needs_moto
def test_bootstrap_refuses_a_key_of_another_user_and_an_unknown_user(moto_server):
    m, root = moto_server
    iam = m.client("iam")
    iam.create_user(UserName="owner2")
    iam.create_user(UserName="other2")
    other = iam.create_access_key(UserName="other2")["AccessKey"]
    secret_file = os.path.join(root, "other-secret")
    with open(secret_file, "w") as f:
        f.write(other["SecretAccessKey"])
    p, _ = bootstrap(m.endpoint, m.admin_key, m.admin_secret, "--user", "owner2",
                     "--secret-name", "owner2-key", "--instance-ids", INSTANCE, "--apply",
                     "--access-key-id", other["AccessKeyId"],
                     "--secret-access-key-file", secret_file)
    assert p.returncode != 0
    assert "is not a key of IAM user owner2" in p.stderr
    assert other["SecretAccessKey"] not in p.stdout + p.stderr

    p, _ = bootstrap(m.endpoint, m.admin_key, m.admin_secret, "--user", "nobody",
                     "--secret-name", "x", "--instance-ids", INSTANCE)
    assert p.returncode != 0
    assert "IAM user nobody does not exist" in p.stderr


def test_tag_form_against_keyward_creates_one_activation(tmp_root):
    """keyward implements activations (moto does not): the tag form's activation has the
    limit and expiry asked for, carries the tag, and a second run finds it."""
    kw = Server(os.path.join(tmp_root, "aws-bootstrap-kw"))
    try:
        iam = kw.client("iam")
        iam.create_user(UserName="web")
        key = iam.create_access_key(UserName="web")["AccessKey"]
        secret_file = os.path.join(tmp_root, "web-secret")
        with open(secret_file, "w") as f:
            f.write(key["SecretAccessKey"])
        args = ["--user", "web", "--secret-name", "web-key", "--tag", "Role=web", "--hosts", "3",
                "--activation-expires", "30m", "--access-key-id", key["AccessKeyId"],
                "--secret-access-key-file", secret_file, "--apply"]
        p, first = bootstrap(kw.endpoint, kw.admin_key, kw.admin_secret, *args)
        assert p.returncode == 0, p.stderr
        acts = [r for r in first["Resources"] if r["Resource"] == "activation"]
        assert [a["Status"] for a in acts] == ["created"], first["Resources"]
        activation_id = acts[0]["Name"]
        assert first["RegistrationCommand"].startswith("sudo amazon-ssm-agent -register -code \"")
        assert f"-id \"{activation_id}\" -region \"{REGION}\"" in first["RegistrationCommand"]
        listed = kw.client("ssm").describe_activations()["ActivationList"]
        mine = [a for a in listed if a["ActivationId"] == activation_id]
        assert mine and mine[0]["RegistrationLimit"] == 3
        lifetime = (mine[0]["ExpirationDate"] - mine[0]["CreatedDate"]).total_seconds()
        assert 29 * 60 <= lifetime <= 31 * 60
        by_sid = {s["Sid"]: s for s in first["KeywardPolicy"]["Statement"]}
        assert by_sid["OnTheTaggedHosts"]["Condition"] == {
            "StringEquals": {"ssm:resourceTag/Role": "web"}}

        p, second = bootstrap(kw.endpoint, kw.admin_key, kw.admin_secret, *args)
        assert p.returncode == 0, p.stderr
        acts = [r for r in second["Resources"] if r["Resource"] == "activation"]
        assert [(a["Status"], a["Name"]) for a in acts] == [("exists", activation_id)]
        assert len(kw.client("ssm").describe_activations()["ActivationList"]) == len(listed)
    finally:
        kw.stop()


def test_help_lists_bootstrap():
    p = run_keyward(["aws", "bootstrap", "--help"], "AKIAX", "x")
    assert p.returncode == 0
    assert "--secret-name" in p.stdout and "--endpoint-url" in p.stdout
