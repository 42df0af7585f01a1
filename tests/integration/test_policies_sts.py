"""Policies, roles and STS against a real server."""
import json
import urllib.request

import botocore.exceptions
import pytest

from conftest import REGION


def error_code(exc_info):
    return exc_info.value.response["Error"]["Code"]


def doc(*statements):
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def new_user(server, iam, name, *statements):
    iam.create_user(UserName=name)
    if statements:
        iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=doc(*statements))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return key["AccessKeyId"], key["SecretAccessKey"]


def test_caller_identity_of_the_administrator(server, sts):
    ident = sts.get_caller_identity()
    assert ident["Arn"].endswith(":user/admin")
    assert len(ident["Account"]) == 12 and ident["Account"].isdigit()
    assert ident["UserId"].startswith("AIDA")


def test_denied_request_reads_like_aws(server, iam, unique):
    key, secret = new_user(server, iam, unique)
    user_iam = server.client("iam", key, secret)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        user_iam.create_user(UserName=unique + "-other")
    assert error_code(e) == "AccessDenied"
    msg = e.value.response["Error"]["Message"]
    assert f"User: arn:aws:iam::" in msg and f":user/{unique} is not authorized to perform: iam:CreateUser on resource:" in msg


def test_seed_ip_restriction_denies_from_loopback(server, iam, unique):
    allow_all = {"Effect": "Allow", "Action": "iam:*", "Resource": "*"}
    deny_other_ip = {"Effect": "Deny", "Action": "*", "Resource": "*",
                     "Condition": {"NotIpAddress": {"aws:SourceIp": ["203.0.113.0/24"]}}}
    key, secret = new_user(server, iam, unique, allow_all, deny_other_ip)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        server.client("iam", key, secret).list_users()
    assert error_code(e) == "AccessDenied"
    assert "explicit deny" in e.value.response["Error"]["Message"]
    # The same policy allowing loopback lets the user in.
    iam.put_user_policy(UserName=unique, PolicyName="p", PolicyDocument=doc(
        allow_all, {"Effect": "Deny", "Action": "*", "Resource": "*",
                    "Condition": {"NotIpAddress": {"aws:SourceIp": ["127.0.0.0/8"]}}}))
    assert "Users" in server.client("iam", key, secret).list_users()


def test_seed_policy_reads_one_action_on_one_resource(server, iam, unique):
    key, secret = new_user(server, iam, unique, {
        "Effect": "Allow", "Action": "iam:GetUser",
        "Resource": f"arn:aws:iam::*:user/{unique}"})
    user_iam = server.client("iam", key, secret)
    assert user_iam.get_user(UserName=unique)["User"]["UserName"] == unique
    with pytest.raises(botocore.exceptions.ClientError) as e:
        user_iam.get_user(UserName="admin")
    assert error_code(e) == "AccessDenied"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        user_iam.list_users()
    assert error_code(e) == "AccessDenied"


def test_assumed_role_works_then_is_refused_after_its_policy_is_deleted(server, iam, sts, unique):
    account = sts.get_caller_identity()["Account"]
    key, secret = new_user(server, iam, unique, {
        "Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"})
    role = iam.create_role(
        RoleName=unique + "-role", MaxSessionDuration=7200,
        AssumeRolePolicyDocument=doc({"Effect": "Allow", "Action": "sts:AssumeRole",
                                      "Principal": {"AWS": f"arn:aws:iam::{account}:root"}}))["Role"]
    assert role["RoleId"].startswith("AROA")
    iam.put_role_policy(RoleName=unique + "-role", PolicyName="list", PolicyDocument=doc(
        {"Effect": "Allow", "Action": "iam:ListUsers", "Resource": "*"}))

    user_sts = server.client("sts", key, secret)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        user_sts.assume_role(RoleArn=role["Arn"], RoleSessionName="toolong", DurationSeconds=7201)
    assert error_code(e) == "ValidationError"
    out = user_sts.assume_role(RoleArn=role["Arn"], RoleSessionName="deploy", DurationSeconds=900)
    creds = out["Credentials"]
    assert creds["AccessKeyId"].startswith("ASIA")
    assert out["AssumedRoleUser"]["Arn"] == f"arn:aws:sts::{account}:assumed-role/{unique}-role/deploy"

    role_iam = server.client("iam", creds["AccessKeyId"], creds["SecretAccessKey"],
                             creds["SessionToken"])
    role_sts = server.client("sts", creds["AccessKeyId"], creds["SecretAccessKey"],
                             creds["SessionToken"])
    assert role_sts.get_caller_identity()["Arn"] == out["AssumedRoleUser"]["Arn"]
    assert "Users" in role_iam.list_users()

    # A wrong session token is refused.
    bad = server.client("sts", creds["AccessKeyId"], creds["SecretAccessKey"], "x" * 64)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        bad.get_caller_identity()
    assert error_code(e) == "InvalidClientTokenId"

    iam.delete_role_policy(RoleName=unique + "-role", PolicyName="list")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        role_iam.list_users()
    assert error_code(e) == "AccessDenied"


def test_trust_policy_without_the_caller_refuses_assume_role(server, iam, sts, unique):
    key, secret = new_user(server, iam, unique, {
        "Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"})
    role = iam.create_role(RoleName=unique + "-role", AssumeRolePolicyDocument=doc(
        {"Effect": "Allow", "Action": "sts:AssumeRole",
         "Principal": {"AWS": "arn:aws:iam::111122223333:root"}}))["Role"]
    with pytest.raises(botocore.exceptions.ClientError) as e:
        server.client("sts", key, secret).assume_role(RoleArn=role["Arn"], RoleSessionName="xx")
    assert error_code(e) == "AccessDenied"


def test_session_token_credentials_work_everywhere(server, iam, unique):
    key, secret = new_user(server, iam, unique, {
        "Effect": "Allow", "Action": ["iam:GetUser", "sts:GetSessionToken"], "Resource": "*"})
    tok = server.client("sts", key, secret).get_session_token(DurationSeconds=900)["Credentials"]
    assert tok["AccessKeyId"].startswith("ASIA")
    temp_iam = server.client("iam", tok["AccessKeyId"], tok["SecretAccessKey"], tok["SessionToken"])
    assert temp_iam.get_user(UserName=unique)["User"]["UserName"] == unique


def test_managed_policy_versions_and_attachments(server, iam, unique):
    key, secret = new_user(server, iam, unique)
    arn = iam.create_policy(PolicyName=unique, PolicyDocument=doc(
        {"Effect": "Allow", "Action": "iam:ListUsers", "Resource": "*"}))["Policy"]["Arn"]
    iam.attach_user_policy(UserName=unique, PolicyArn=arn)
    user_iam = server.client("iam", key, secret)
    assert "Users" in user_iam.list_users()
    v2 = iam.create_policy_version(PolicyArn=arn, SetAsDefault=True, PolicyDocument=doc(
        {"Effect": "Allow", "Action": "iam:ListRoles", "Resource": "*"}))["PolicyVersion"]
    assert v2["VersionId"] == "v2" and v2["IsDefaultVersion"] is True
    with pytest.raises(botocore.exceptions.ClientError) as e:
        user_iam.list_users()
    assert error_code(e) == "AccessDenied"
    assert "Roles" in user_iam.list_roles()
    assert iam.get_policy(PolicyArn=arn)["Policy"]["AttachmentCount"] == 1
    with pytest.raises(botocore.exceptions.ClientError) as e:
        iam.delete_policy(PolicyArn=arn)
    assert error_code(e) == "DeleteConflict"
    attached = iam.list_attached_user_policies(UserName=unique)["AttachedPolicies"]
    assert attached == [{"PolicyName": unique, "PolicyArn": arn}]


def test_presigned_get_caller_identity_url(server, sts):
    url = sts.generate_presigned_url("get_caller_identity", Params={}, ExpiresIn=60,
                                  HttpMethod="GET")
    assert "X-Amz-Signature=" in url
    with urllib.request.urlopen(url, timeout=5) as r:
        body = r.read().decode()
    assert "<GetCallerIdentityResponse" in body and ":user/admin</Arn>" in body
    tampered = url.replace("GetCallerIdentity", "GetCallerIdentitx")
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(tampered, timeout=5)
    assert e.value.code == 403
    assert b"SignatureDoesNotMatch" in e.value.read()
