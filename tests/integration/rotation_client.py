"""What the rotation fault and consumer tests share: raw SigV4-signed calls (cheap enough
to make ten a second per consumer), a consumer that signs with whatever key it is given,
and a keyward server process that may die at a failpoint and be started again."""
import configparser
import http.client
import json
import os
import resource
import subprocess
import threading
import time
import urllib.request

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

REGION = "us-east-1"
BIN = os.environ.get("KEYWARD_BIN", os.path.join(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "build", "bin",
    "keyward"))


class ServerDown(Exception):
    """No answer: the server process is not there (it died or is restarting)."""


def signed_call(host, port, key, secret, service, body, headers, timeout=5):
    """One SigV4-signed POST; returns (HTTP status, body text). ServerDown when nothing
    answered."""
    req = AWSRequest(method="POST", url=f"http://{host}:{port}/", data=body, headers=headers)
    SigV4Auth(Credentials(key, secret), service, REGION).add_auth(req)
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("POST", "/", body=body, headers=dict(req.headers.items()))
        resp = conn.getresponse()
        return resp.status, resp.read().decode(errors="replace")
    except (OSError, http.client.HTTPException) as e:
        raise ServerDown(str(e)) from e
    finally:
        conn.close()


def json_call(host, port, key, secret, service, target, payload):
    prefix = {"keyward": "Keyward", "secretsmanager": "secretsmanager"}[service]
    return signed_call(host, port, key, secret, service, json.dumps(payload), {
        "Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": f"{prefix}.{target}"})


def caller_identity(host, port, key, secret):
    return signed_call(host, port, key, secret, "sts",
                       "Action=GetCallerIdentity&Version=2011-06-15",
                       {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})


class Consumer(threading.Thread):
    """Every `interval` seconds: get a key from `source()` (None: nothing to sign with
    yet), sign sts GetCallerIdentity with it, and count the outcome. Requests that got no
    answer (server down) are counted apart; every answered request must succeed."""

    def __init__(self, host, port, source, interval=0.1):
        super().__init__(daemon=True)
        self.host, self.port, self.source, self.interval = host, port, source, interval
        self.ok = 0
        self.down = 0
        self.failures = []  # (time, key id, status, body)
        self.keys_used = set()
        self._halt = threading.Event()

    def run(self):
        while not self._halt.is_set():
            try:
                pair = self.source()
                if pair is not None:
                    status, body = caller_identity(self.host, self.port, *pair)
                    if status == 200:
                        self.ok += 1
                        self.keys_used.add(pair[0])
                    else:
                        self.failures.append((time.time(), pair[0], status, body[:300]))
            except ServerDown:
                self.down += 1
            except Exception as e:  # an answered request that did not give a key
                self.failures.append((time.time(), None, None, str(e)[:300]))
            self._halt.wait(self.interval)

    def stop(self):
        self._halt.set()
        self.join(timeout=10)


class Process:
    """`keyward server` on a fixed port and data directory; KW_FAILPOINTS as given. A
    failpoint set to abort kills the process (no core file is written)."""

    def __init__(self, data_dir, port, failpoints="", config=None, listen_host="127.0.0.1"):
        self.data_dir, self.port = data_dir, port
        env = dict(os.environ)
        env.pop("KW_FAILPOINTS", None)
        if failpoints:
            env["KW_FAILPOINTS"] = failpoints
        args = [BIN, "server", "--data-dir", data_dir, "--listen", f"{listen_host}:{port}"]
        if config:
            args += ["--config", config]
        self.log_path = os.path.join(os.path.dirname(data_dir), f"server-{port}.log")
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            args, stdout=self.log, stderr=subprocess.STDOUT, env=env,
            preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_CORE, (0, 0)))
        self.endpoint = f"http://127.0.0.1:{port}"
        deadline = time.time() + 30
        while True:
            if self.proc.poll() is not None:
                # An armed failpoint may be reached by the first engine tick, before the
                # readiness probe saw the server: that death is the caller's to judge.
                if failpoints and "ready on" in self.output():
                    break
                raise RuntimeError(f"keyward exited with {self.proc.returncode}: {self.output()}")
            try:
                with urllib.request.urlopen(self.endpoint + "/health", timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.time() > deadline:
                raise RuntimeError("keyward did not become ready: " + self.output())
            time.sleep(0.05)
        creds = configparser.ConfigParser()
        creds.read(os.path.join(data_dir, "admin-credentials"))
        self.admin_key = creds["default"]["aws_access_key_id"]
        self.admin_secret = creds["default"]["aws_secret_access_key"]

    def output(self):
        self.log.flush()
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def admin(self, service, target, payload):
        status, body = json_call("127.0.0.1", self.port, self.admin_key, self.admin_secret,
                                 service, target, payload)
        if status != 200:
            raise AssertionError(f"{target}: HTTP {status} {body}")
        return json.loads(body or "{}")

    def wait_exit(self, timeout):
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def write_config(path, tick_ms=100, max_active=32, threads=4):
    with open(path, "w") as f:
        f.write(f"rotation_tick_ms: {tick_ms}\nrotation_max_active_per_issuer: {max_active}\n"
                f"rotation_threads: {threads}\n")
    return path
