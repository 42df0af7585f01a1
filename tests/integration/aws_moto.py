"""What the AWS tests (issue 7) share: moto's server with authentication enforced, and
`keyward` CLI runs with explicit AWS credentials.

moto checks that every request is signed by a known key and that the caller's IAM
policies allow the *action*; it evaluates policies against the resource "*" for
Secrets Manager, SSM and most IAM calls, so resource-scoped statements are checked
here by reading the documents, not by moto.
"""
import json
import os
import shutil
import socket
import subprocess
import sys
import time

import boto3
import botocore.config

from conftest import BIN, REGION, free_port



def _moto_python():
    """A Python that can run moto's server: this one, else the first python3 on PATH that
    has moto (the machine's Python may differ from the one running pytest)."""
    candidates = [sys.executable] + [c for c in (shutil.which("python3"), "/usr/bin/python3")
                                     if c]
    for python in dict.fromkeys(candidates):
        try:
            if subprocess.run([python, "-c", "import moto.server"], capture_output=True,
                              timeout=60).returncode == 0:
                return python
        except (OSError, subprocess.TimeoutExpired):
            continue
    return None


MOTO_PYTHON = _moto_python()
HAVE_MOTO = MOTO_PYTHON is not None


def aws_client(service, endpoint, key, secret):
    return boto3.client(service, endpoint_url=endpoint, region_name=REGION,
                        aws_access_key_id=key, aws_secret_access_key=secret,
                        config=botocore.config.Config(retries={"max_attempts": 1}))


class Moto:
    """moto's server; the first 3 actions (creating an admin, its policy and its key) run
    unauthenticated, every later request must be signed and allowed."""

    def __init__(self, root, user="admin", actions="*"):
        """`user` is bootstrapped with an inline policy allowing `actions` (a list, or "*")
        on every resource; its key is admin_key/admin_secret."""
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        env = dict(os.environ)
        env["INITIAL_NO_AUTH_ACTION_COUNT"] = "3"
        # AmazonSSMManagedInstanceCore, which bootstrap attaches to the instance role.
        env["MOTO_IAM_LOAD_MANAGED_POLICIES"] = "true"
        self.log = open(os.path.join(root, f"moto-{self.port}.log"), "wb")
        self.proc = subprocess.Popen([MOTO_PYTHON, "-m", "moto.server", "-H", "127.0.0.1",
                                      "-p", str(self.port)], env=env, stdout=self.log,
                                     stderr=subprocess.STDOUT)
        deadline = time.time() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                break
            except OSError:
                if self.proc.poll() is not None or time.time() > deadline:
                    raise RuntimeError("moto did not start")
                time.sleep(0.1)
        boot = aws_client("iam", self.endpoint, "AKIABOOTSTRAP", "bootstrap")
        boot.create_user(UserName=user)
        boot.put_user_policy(UserName=user, PolicyName="bootstrap", PolicyDocument=json.dumps({
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}]}))
        key = boot.create_access_key(UserName=user)["AccessKey"]
        self.admin_key, self.admin_secret = key["AccessKeyId"], key["SecretAccessKey"]
        self.iam = self.client("iam")

    def client(self, service, key=None, secret=None):
        return aws_client(service, self.endpoint, key or self.admin_key,
                          secret or self.admin_secret)

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


def run_keyward(args, key, secret, timeout=60, extra_env=None):
    """`keyward ARGS` with only the given AWS credentials in its environment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update({"AWS_ACCESS_KEY_ID": key, "AWS_SECRET_ACCESS_KEY": secret,
                "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
                "AWS_EC2_METADATA_DISABLED": "true"})
    env.update(extra_env or {})
    return subprocess.run([BIN, *args], env=env, capture_output=True, text=True, timeout=timeout)


def bootstrap(endpoint, key, secret, *args):
    """`keyward aws bootstrap ... --output json`; returns (process, parsed output)."""
    p = run_keyward(["aws", "bootstrap", "--region", REGION, "--endpoint-url", endpoint,
                     "--output", "json", *args], key, secret)
    out = json.loads(p.stdout) if p.returncode == 0 and p.stdout.strip() else None
    return p, out


def statuses(out):
    return {(r["Resource"], r["Name"]): r["Status"] for r in out["Resources"]}
