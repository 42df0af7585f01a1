"""IAM users and access keys through boto3 and the aws CLI against a real server."""
import csv
import io
import json
import os
import time

import botocore.exceptions
import pytest

from conftest import Server, run_aws


def error_code(exc_info):
    return exc_info.value.response["Error"]["Code"]


def test_user_lifecycle_with_paths_tags_and_pagination(iam, unique):
    for i in range(5):
        iam.create_user(UserName=f"{unique}-u{i}", Path=f"/{unique}/",
                        Tags=[{"Key": "owner", "Value": f"person{i}"}])
    user = iam.get_user(UserName=f"{unique}-u3")["User"]
    assert user["Arn"].endswith(f":user/{unique}/{unique}-u3")
    assert user["UserId"].startswith("AIDA") and len(user["UserId"]) == 21
    assert user["Path"] == f"/{unique}/"
    assert {"Key": "owner", "Value": "person3"} in user["Tags"]

    page = iam.list_users(PathPrefix=f"/{unique}/", MaxItems=2)
    assert page["IsTruncated"] is True and len(page["Users"]) == 2
    names = [u["UserName"] for u in
             iam.get_paginator("list_users").paginate(PathPrefix=f"/{unique}/",
                                                      PaginationConfig={"PageSize": 2})
             .build_full_result()["Users"]]
    assert names == [f"{unique}-u{i}" for i in range(5)]

    with pytest.raises(botocore.exceptions.ClientError) as e:
        iam.create_user(UserName=f"{unique}-u0")
    assert error_code(e) == "EntityAlreadyExists"

    iam.update_user(UserName=f"{unique}-u4", NewUserName=f"{unique}-renamed")
    assert iam.get_user(UserName=f"{unique}-renamed")["User"]["UserName"] == f"{unique}-renamed"
    iam.tag_user(UserName=f"{unique}-renamed", Tags=[{"Key": "team", "Value": "infra"}])
    tags = iam.list_user_tags(UserName=f"{unique}-renamed")["Tags"]
    assert {"Key": "team", "Value": "infra"} in tags
    iam.untag_user(UserName=f"{unique}-renamed", TagKeys=["team"])
    assert {"Key": "team", "Value": "infra"} not in iam.list_user_tags(
        UserName=f"{unique}-renamed")["Tags"]

    iam.delete_user(UserName=f"{unique}-renamed")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        iam.get_user(UserName=f"{unique}-renamed")
    assert error_code(e) == "NoSuchEntity"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_delete_user_with_keys_is_a_conflict(iam, unique):
    iam.create_user(UserName=unique)
    key = iam.create_access_key(UserName=unique)["AccessKey"]
    with pytest.raises(botocore.exceptions.ClientError) as e:
        iam.delete_user(UserName=unique)
    assert error_code(e) == "DeleteConflict"
    iam.delete_access_key(UserName=unique, AccessKeyId=key["AccessKeyId"])
    iam.delete_user(UserName=unique)


def test_third_access_key_fails_with_the_aws_cli(server, unique):
    run_aws(server, "iam", "create-user", "--user-name", unique)
    ids = []
    for _ in range(2):
        out = json.loads(run_aws(server, "iam", "create-access-key", "--user-name", unique).stdout)
        key = out["AccessKey"]
        assert key["AccessKeyId"].startswith("AKIA") and len(key["AccessKeyId"]) == 20
        assert len(key["SecretAccessKey"]) == 40
        assert key["Status"] == "Active"
        ids.append(key["AccessKeyId"])
    third = run_aws(server, "iam", "create-access-key", "--user-name", unique, check=False)
    assert third.returncode != 0
    assert "LimitExceeded" in third.stderr
    listed = json.loads(run_aws(server, "iam", "list-access-keys", "--user-name", unique).stdout)
    assert sorted(k["AccessKeyId"] for k in listed["AccessKeyMetadata"]) == sorted(ids)


def test_last_used_is_recorded_when_a_key_signs(server, iam, unique):
    iam.create_user(UserName=unique)
    iam.put_user_policy(UserName=unique, PolicyName="whoami", PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "iam:GetUser", "Resource": "*"}]}))
    key = iam.create_access_key(UserName=unique)["AccessKey"]
    before = iam.get_access_key_last_used(AccessKeyId=key["AccessKeyId"])
    assert before["UserName"] == unique
    assert "LastUsedDate" not in before["AccessKeyLastUsed"]
    assert before["AccessKeyLastUsed"]["ServiceName"] == "N/A"

    user_iam = server.client("iam", key["AccessKeyId"], key["SecretAccessKey"])
    assert user_iam.get_user()["User"]["UserName"] == unique
    after = iam.get_access_key_last_used(AccessKeyId=key["AccessKeyId"])["AccessKeyLastUsed"]
    assert after["ServiceName"] == "iam"
    assert after["Region"] == "us-east-1"
    assert abs(after["LastUsedDate"].timestamp() - time.time()) < 120


def test_deactivated_or_deleted_key_is_refused_on_the_next_request(server, iam, unique):
    iam.create_user(UserName=unique)
    key = iam.create_access_key(UserName=unique)["AccessKey"]
    user_sts = server.client("sts", key["AccessKeyId"], key["SecretAccessKey"])
    assert user_sts.get_caller_identity()["Arn"].endswith(f":user/{unique}")

    iam.update_access_key(UserName=unique, AccessKeyId=key["AccessKeyId"], Status="Inactive")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        user_sts.get_caller_identity()
    assert error_code(e) == "InvalidClientTokenId"

    iam.update_access_key(UserName=unique, AccessKeyId=key["AccessKeyId"], Status="Active")
    assert user_sts.get_caller_identity()["UserId"].startswith("AIDA")

    iam.delete_access_key(UserName=unique, AccessKeyId=key["AccessKeyId"])
    with pytest.raises(botocore.exceptions.ClientError) as e:
        user_sts.get_caller_identity()
    assert error_code(e) == "InvalidClientTokenId"


def test_credential_report_has_aws_columns(tmp_root, unique):
    # A server of its own: as in AWS, a report younger than four hours is not
    # regenerated, so one made by another test would not list this test's user.
    server = Server(os.path.join(tmp_root, "report"))
    try:
        check_credential_report(server, server.client("iam"), unique)
    finally:
        server.stop()


def check_credential_report(server, iam, unique):
    iam.create_user(UserName=unique)
    key = iam.create_access_key(UserName=unique)["AccessKey"]
    server.client("sts", key["AccessKeyId"], key["SecretAccessKey"]).get_caller_identity()
    state = iam.generate_credential_report()["State"]
    assert state in ("STARTED", "COMPLETE")
    for _ in range(50):
        if iam.generate_credential_report()["State"] == "COMPLETE":
            break
        time.sleep(0.1)
    report = iam.get_credential_report()
    assert report["ReportFormat"] == "text/csv"
    rows = list(csv.DictReader(io.StringIO(report["Content"].decode())))
    assert list(rows[0].keys()) == [
        "user", "arn", "user_creation_time", "password_enabled", "password_last_used",
        "password_last_changed", "password_next_rotation", "mfa_active",
        "access_key_1_active", "access_key_1_last_rotated", "access_key_1_last_used_date",
        "access_key_1_last_used_region", "access_key_1_last_used_service",
        "access_key_2_active", "access_key_2_last_rotated", "access_key_2_last_used_date",
        "access_key_2_last_used_region", "access_key_2_last_used_service",
        "cert_1_active", "cert_1_last_rotated", "cert_2_active", "cert_2_last_rotated"]
    assert rows[0]["user"] == "<root_account>"
    mine = [r for r in rows if r["user"] == unique]
    assert len(mine) == 1
    assert mine[0]["access_key_1_active"] == "true"
    assert mine[0]["access_key_1_last_used_service"] == "sts"
    assert mine[0]["access_key_2_active"] == "false"


def test_secret_access_keys_never_reach_the_database_file(server, iam, unique):
    iam.create_user(UserName=unique)
    secret = iam.create_access_key(UserName=unique)["AccessKey"]["SecretAccessKey"]
    import glob
    import os
    blobs = b""
    for path in glob.glob(os.path.join(server.data_dir, "keyward.db*")):
        with open(path, "rb") as f:
            blobs += f.read()
    assert blobs, "no database file found"
    assert secret.encode() not in blobs
    assert server.admin_secret.encode() not in blobs
