"""The keyward operator CLI against a real server, as an operator types it."""
import json

from conftest import run_keyward


def kw(server, *args, env_extra=None, check=True):
    return run_keyward(server, *args, env_extra=env_extra, check=check)


def test_status_and_whoami(server):
    out = kw(server, "status").stdout
    assert server.endpoint in out and ":user/admin" in out
    ident = json.loads(kw(server, "whoami", "--output", "json").stdout)
    assert ident["Arn"].endswith(":user/admin")


def test_user_and_access_key_cycle(server, unique):
    kw(server, "user", "create", unique)
    users = json.loads(kw(server, "user", "list", "--output", "json").stdout)
    assert unique in json.dumps(users)
    created = kw(server, "access-key", "create", "--user", unique, "--output", "json").stdout
    key = json.loads(created)
    key = key.get("AccessKey", key)
    akid, secret = key["AccessKeyId"], key["SecretAccessKey"]
    assert akid.startswith("AKIA") and len(secret) == 40

    # The new key works through the same CLI, via the environment provider.
    who = kw(server, "whoami", "--output", "json",
             env_extra={"AWS_ACCESS_KEY_ID": akid, "AWS_SECRET_ACCESS_KEY": secret}).stdout
    assert json.loads(who)["Arn"].endswith(f":user/{unique}")

    listing = kw(server, "access-key", "list", "--user", unique).stdout
    assert akid in listing and secret not in listing
    kw(server, "access-key", "deactivate", akid, "--user", unique)
    refused = kw(server, "whoami", check=False,
                 env_extra={"AWS_ACCESS_KEY_ID": akid, "AWS_SECRET_ACCESS_KEY": secret})
    assert refused.returncode != 0 and "InvalidClientTokenId" in refused.stderr
    assert secret not in refused.stderr

    conflict = kw(server, "user", "delete", unique, check=False)
    assert conflict.returncode != 0 and "DeleteConflict" in conflict.stderr
    kw(server, "access-key", "delete", akid, "--user", unique)
    kw(server, "user", "delete", unique)


def test_credential_report_csv(server):
    out = kw(server, "credential-report", "--output", "csv").stdout
    assert out.splitlines()[0].startswith("user,arn,user_creation_time,password_enabled")
    assert "<root_account>" in out


def test_missing_credentials_name_the_providers(server):
    p = kw(server, "whoami", check=False,
           env_extra={"AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/creds"})
    assert p.returncode != 0
    assert "environment" in p.stderr and "/nonexistent/creds" in p.stderr
