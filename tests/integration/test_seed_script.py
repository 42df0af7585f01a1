"""The seed's credential script, run as published (plus --endpoint-url) against keyward.

The seed keeps each IAM user's access key in a Secrets Manager secret named after the user;
an SSM document runs seed/overwrite-secret-value.sh on the server, which reads the secret
with the aws CLI and writes a credentials file with jq. Here the script runs with the
credentials of a principal that holds only the seed's policy.
"""
import json
import os
import shutil
import subprocess

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.join(HERE, "seed", "overwrite-secret-value.sh")
DOCUMENT = os.path.join(HERE, "seed", "document.json")
SECRET_NAME = "iam-user-test001"  # fixed by the script
KEY_OWNER = "test001"

# The seed's script as published, for the check that ours differs only where it says.
SEED_SCRIPT = """#!/bin/bash
aws secretsmanager get-secret-value --secret-id iam-user-test001 --region ap-northeast-1 | \\
jq -r .SecretString | \\
jq -r '"aws_access_key_id=" + .aws_access_key_id, "aws_secret_access_key=" + .aws_secret_access_key' \\
> /path/to/credentials
"""


def seed_policy(secret_arn):
    return json.dumps({"Version": "2012-10-17", "Statement": {
        "Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": secret_arn}})


def secret_string(key):
    return json.dumps({"aws_access_key_id": key["AccessKeyId"],
                       "aws_secret_access_key": key["SecretAccessKey"]})


def run_script(server, key, secret, out_path):
    for tool in ("aws", "jq", "bash"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is not installed (scripts/install-deps.sh installs it)")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update({
        "AWS_ACCESS_KEY_ID": key,
        "AWS_SECRET_ACCESS_KEY": secret,
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        "AWS_MAX_ATTEMPTS": "1",
        "KEYWARD_ENDPOINT": server.endpoint,
        "CREDENTIALS_PATH": str(out_path),
    })
    return subprocess.run(["bash", SCRIPT], env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def seeded(server):
    """The key owner test001 with its key in iam-user-test001, and a reader with the seed policy."""
    iam, sm = server.client("iam"), server.client("secretsmanager")
    iam.create_user(UserName=KEY_OWNER)
    owner_key = iam.create_access_key(UserName=KEY_OWNER)["AccessKey"]
    arn = sm.create_secret(Name=SECRET_NAME, SecretString=secret_string(owner_key))["ARN"]
    iam.create_user(UserName="ssm-reader-test001")
    iam.put_user_policy(UserName="ssm-reader-test001", PolicyName="seed",
                        PolicyDocument=seed_policy(arn))
    reader = iam.create_access_key(UserName="ssm-reader-test001")["AccessKey"]
    return {"arn": arn, "owner_key": owner_key,
            "reader": (reader["AccessKeyId"], reader["SecretAccessKey"])}


def expected_file(key):
    return (f"aws_access_key_id={key['AccessKeyId']}\n"
            f"aws_secret_access_key={key['SecretAccessKey']}\n")


def read_credentials_file(path):
    values = dict(line.split("=", 1) for line in path.read_text().splitlines())
    return values["aws_access_key_id"], values["aws_secret_access_key"]


def test_script_differs_from_the_seed_only_where_it_says():
    code = [line for line in open(SCRIPT).read().splitlines() if not line.startswith("# ")]
    expected = (SEED_SCRIPT
                .replace("--region ap-northeast-1 |",
                         '--region ap-northeast-1 --endpoint-url "$KEYWARD_ENDPOINT" |')
                .replace("> /path/to/credentials",
                         '> "${CREDENTIALS_PATH:-/path/to/credentials}"')).splitlines()
    assert code == expected
    doc = json.load(open(DOCUMENT))
    assert doc["schemaVersion"] == "2.2"
    step = doc["mainSteps"][0]
    assert step["action"] == "aws:runShellScript"
    assert step["inputs"]["runCommand"][0].endswith("/overwrite-secret-value.sh")


def test_script_writes_working_credentials_then_follows_a_new_key(server, seeded, tmp_path):
    out = tmp_path / "credentials"
    p = run_script(server, *seeded["reader"], out)
    assert p.returncode == 0, p.stderr
    assert out.read_text() == expected_file(seeded["owner_key"]), p.stderr

    key, secret = read_credentials_file(out)
    ident = server.client("sts", key, secret).get_caller_identity()
    assert ident["Arn"].endswith(f":user/{KEY_OWNER}")

    # The seed's rotation: a new key goes into the secret, the script overwrites the file.
    iam, sm = server.client("iam"), server.client("secretsmanager")
    new_key = iam.create_access_key(UserName=KEY_OWNER)["AccessKey"]
    sm.put_secret_value(SecretId=SECRET_NAME, SecretString=secret_string(new_key))
    p = run_script(server, *seeded["reader"], out)
    assert p.returncode == 0, p.stderr
    assert out.read_text() == expected_file(new_key)
    iam.delete_access_key(UserName=KEY_OWNER, AccessKeyId=seeded["owner_key"]["AccessKeyId"])
    key, secret = read_credentials_file(out)
    assert server.client("sts", key, secret).get_caller_identity()["Arn"].endswith(
        f":user/{KEY_OWNER}")


def test_script_without_the_policy_writes_nothing_usable(server, seeded, tmp_path):
    iam = server.client("iam")
    iam.create_user(UserName="no-policy-test001")
    k = iam.create_access_key(UserName="no-policy-test001")["AccessKey"]
    out = tmp_path / "credentials"
    p = run_script(server, k["AccessKeyId"], k["SecretAccessKey"], out)
    # The pipeline's status is jq's, so the script "succeeds"; the file is empty.
    assert out.read_text() == ""
    assert "AccessDeniedException" in p.stderr
    assert "aws_secret_access_key" not in p.stdout + p.stderr
