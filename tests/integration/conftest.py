"""Fixtures that run a real keyward server and give boto3 clients and the aws CLI."""
import configparser
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.request

import boto3
import botocore.config
import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("KEYWARD_BIN", os.path.join(REPO, "build", "bin", "keyward"))
REGION = "us-east-1"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A keyward server process on a fresh data directory."""

    def __init__(self, data_dir, extra_args=(), listen_host="127.0.0.1", port=None, tls=None):
        """tls: (certificate chain PEM path, private key PEM path), to serve HTTPS only;
        the certificate must be valid for 127.0.0.1 and is trusted as its own CA."""
        self.data_dir = data_dir
        self.port = port or free_port()
        self.ca_file = tls[0] if tls else None
        self.endpoint = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}"
        if tls:
            extra_args = (*extra_args, "--tls-cert", tls[0], "--tls-key", tls[1])
        self.log_path = os.path.join(os.path.dirname(data_dir), f"server-{self.port}.log")
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [BIN, "server", "--data-dir", data_dir, "--listen", f"{listen_host}:{self.port}", *extra_args],
            stdout=self.log, stderr=subprocess.STDOUT)
        self.wait_ready()
        creds = configparser.ConfigParser()
        creds.read(os.path.join(data_dir, "admin-credentials"))
        self.admin_key = creds["default"]["aws_access_key_id"]
        self.admin_secret = creds["default"]["aws_secret_access_key"]

    def wait_ready(self, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"keyward exited with {self.proc.returncode}: {self.output()}")
            try:
                context = ssl.create_default_context(cafile=self.ca_file) if self.ca_file else None
                with urllib.request.urlopen(self.endpoint + "/health", timeout=1, context=context) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError("keyward did not become ready: " + self.output())

    def output(self):
        self.log.flush()
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def client(self, service, key=None, secret=None, token=None):
        return boto3.client(
            service, endpoint_url=self.endpoint, region_name=REGION,
            aws_access_key_id=key or self.admin_key,
            aws_secret_access_key=secret or self.admin_secret,
            aws_session_token=token,
            verify=self.ca_file if self.ca_file else None,
            config=botocore.config.Config(retries={"max_attempts": 1}))

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode


@pytest.fixture(scope="session")
def tmp_root():
    d = tempfile.mkdtemp(prefix="keyward-it-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="session")
def server(tmp_root):
    if not os.path.exists(BIN):
        pytest.fail(f"keyward binary not found at {BIN}; build first")
    s = Server(os.path.join(tmp_root, "data"))
    yield s
    s.stop()


@pytest.fixture
def iam(server):
    return server.client("iam")


@pytest.fixture
def sts(server):
    return server.client("sts")


_counter = [0]


@pytest.fixture
def unique():
    """A fresh name prefix per test, so tests sharing the server do not collide."""
    _counter[0] += 1
    return f"t{os.getpid()}x{_counter[0]}"


def run_keyward(server, *args, env_extra=None, check=True):
    """Runs the keyward CLI as the server's administrator (its admin-credentials file,
    KEYWARD_ENDPOINT, no other AWS_ settings); returns CompletedProcess. With `check`, a
    non-zero exit fails the test with the command's output."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update({"AWS_SHARED_CREDENTIALS_FILE": os.path.join(server.data_dir, "admin-credentials"),
                "AWS_CONFIG_FILE": "/dev/null", "KEYWARD_ENDPOINT": server.endpoint})
    env.update(env_extra or {})
    p = subprocess.run([BIN, *args], env=env, capture_output=True, text=True, timeout=60)
    if check and p.returncode != 0:
        raise AssertionError(f"keyward {' '.join(args)}: {p.returncode} {p.stdout}{p.stderr}")
    return p


def run_aws(server, *args, key=None, secret=None, check=True, base_env=None):
    """Runs the real aws CLI against the server; returns CompletedProcess. `base_env`
    (default: this process's environment) is what the CLI's environment starts from."""
    aws = shutil.which("aws")
    if aws is None:
        pytest.fail("the aws CLI is not installed")
    env = dict(os.environ if base_env is None else base_env)
    env.update({
        "AWS_ACCESS_KEY_ID": key or server.admin_key,
        "AWS_SECRET_ACCESS_KEY": secret or server.admin_secret,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        "AWS_PAGER": "",
        "AWS_MAX_ATTEMPTS": "1",
    })
    env.pop("AWS_SESSION_TOKEN", None)
    env.pop("AWS_PROFILE", None)
    p = subprocess.run([aws, "--endpoint-url", server.endpoint, "--output", "json", *args],
                       env=env, capture_output=True, text=True, timeout=120)
    if check and p.returncode != 0:
        raise AssertionError(f"aws {' '.join(args)} failed: {p.stderr}")
    return p
