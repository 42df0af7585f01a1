"""keyward rotating its own credentials for an external issuer (issue 5, "Issuers";
docs/rotation-external.md, "Rotating keyward's own credentials"). A second keyward server
plays the external IAM. The issuer entry says `credentials_secret:` instead of `profile:`,
so keyward signs with the key in AWSCURRENT of one of its own secrets; an ordinary policy
rotates that key with the same issuer. Afterwards the endpoint has exactly one key for
keyward's user, the one in AWSCURRENT, and further rotations through the issuer succeed,
which they could not if keyward still signed with the (deleted) old key.
"""
import json
import os

import pytest

from conftest import Server
from test_external_issuer import assert_rotated, environment, start_rotation, wait_done

SELF_USER = "keyward-self"
SELF_SECRET = "keyward/external-key"


@pytest.fixture(scope="module")
def world(tmp_root):
    root = os.path.join(tmp_root, "external-self")
    os.makedirs(root, exist_ok=True)
    kw2 = Server(os.path.join(root, "kw2"))
    try:
        # keyward's own identity at the external endpoint: a user that may manage keys
        # (its own included) and nothing else.
        iam2 = kw2.client("iam")
        iam2.create_user(UserName=SELF_USER)
        iam2.put_user_policy(UserName=SELF_USER, PolicyName="rotate-keys", PolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": [
                "iam:ListAccessKeys", "iam:CreateAccessKey", "iam:UpdateAccessKey",
                "iam:DeleteAccessKey", "iam:GetAccessKeyLastUsed"], "Resource": "*"}]}))
        integrations = os.path.join(root, "integrations.yaml")
        with open(integrations, "w") as f:
            f.write(f"issuers:\n  self-kw2:\n    type: aws-iam\n    endpoint: {kw2.endpoint}\n"
                    f"    sts_endpoint: {kw2.endpoint}\n    credentials_secret: {SELF_SECRET}\n"
                    f"    calls_per_second: 50\n    burst: 10\n    timeout_seconds: 5\n"
                    f"    max_attempts: 4\n")
        # No credentials anywhere in the chain: only the secret can sign.
        with environment(AWS_SHARED_CREDENTIALS_FILE=os.path.join(root, "none"),
                         AWS_CONFIG_FILE=os.path.join(root, "none"),
                         AWS_EC2_METADATA_DISABLED="true"):
            kw = Server(os.path.join(root, "kw"), extra_args=("--integrations", integrations))
        try:
            yield {"kw": kw, "kw2": kw2, "iam2": iam2}
        finally:
            kw.stop()
    finally:
        kw2.stop()


def test_keyward_rotates_its_own_key_and_signs_with_the_new_one(world):
    kw, kw2, iam2 = world["kw"], world["kw2"], world["iam2"]
    own = iam2.create_access_key(UserName=SELF_USER)["AccessKey"]
    # The secret doubles as the rotated secret of the policy and as the issuer's credentials.
    rid = start_rotation(kw, "self-kw2", SELF_USER, SELF_SECRET, own)
    wait_done(kw, [rid], timeout=60)
    value = assert_rotated(kw, iam2, SELF_USER, SELF_SECRET, own["AccessKeyId"])
    # The old key is gone at the endpoint: it no longer signs anything there.
    with pytest.raises(Exception) as refused:
        kw2.client("sts", key=own["AccessKeyId"], secret=own["SecretAccessKey"]).get_caller_identity()
    assert "InvalidClientTokenId" in str(refused.value)

    # Another user's rotation through the same issuer succeeds, so keyward signs with the
    # new key from AWSCURRENT (the old one would be refused).
    iam2.create_user(UserName="app-after-self")
    app_old = iam2.create_access_key(UserName="app-after-self")["AccessKey"]
    rid2 = start_rotation(kw, "self-kw2", "app-after-self", "app-after-self-key", app_old)
    wait_done(kw, [rid2], timeout=60)
    assert_rotated(kw, iam2, "app-after-self", "app-after-self-key", app_old["AccessKeyId"])
    # keyward's own key was not touched by that rotation.
    keys = iam2.list_access_keys(UserName=SELF_USER)["AccessKeyMetadata"]
    assert [k["AccessKeyId"] for k in keys] == [value["aws_access_key_id"]]
    # Neither key's secret reached the log.
    assert own["SecretAccessKey"] not in kw.output()
    assert value["aws_secret_access_key"] not in kw.output()
