"""What the HTTP benchmarks share: a keyward server on a fresh data directory, wrk
runs and their parsing, and medians."""
import configparser
import os
import re
import socket
import statistics
import subprocess
import time
import urllib.request

import boto3
import botocore.config
from botocore.credentials import Credentials

REGION = "us-east-1"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def add_wrk_arguments(ap):
    """The options every wrk benchmark takes."""
    ap.add_argument("--bin", default="build/bin/keyward")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2, help="wrk threads")


def parse_wrk(text):
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))

    def pct(p):
        m = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s)\s*$", text, re.M)
        v, unit = float(m.group(1)), m.group(2)
        return v * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    return {"rps": rps, "p50_ms": pct(50), "p99_ms": pct(99),
            "errors": int(non2xx.group(1)) if non2xx else 0}


def run_wrk(args, url, lua=None, script_args=()):
    """One wrk run (--latency) with the benchmark's options; parsed, plus the request
    count and the Lua pool's wraps when the script reports them."""
    cmd = ["wrk", "-t", str(args.threads), "-c", str(args.connections),
           "-d", f"{args.duration}s", "--latency"]
    cmd += ["-s", lua, url, "--", *script_args] if lua else [url]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    result = parse_wrk(out)
    m = re.search(r"(\d+) requests in", out)
    result["requests"] = int(m.group(1)) if m else 0
    w = re.search(r"pool wraps: (\d+)", out)
    result["wraps"] = int(w.group(1)) if w else 0
    return result


def median_of(runs):
    return {k: statistics.median(r[k] for r in runs) for k in runs[0]}


class Keyward:
    """A keyward server on a fresh data directory, with its administrator's credentials."""

    def __init__(self, binary, tmp, extra_args=()):
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.data_dir = os.path.join(tmp, "d")
        self.binary, self.tmp, self.extra_args = binary, tmp, tuple(extra_args)
        self._start()
        creds = configparser.ConfigParser()
        creds.read(os.path.join(self.data_dir, "admin-credentials"))
        self.credentials = Credentials(creds["default"]["aws_access_key_id"],
                                       creds["default"]["aws_secret_access_key"])

    def _start(self):
        self.log = open(os.path.join(self.tmp, "server.log"), "ab")
        self.proc = subprocess.Popen([self.binary, "server", "--data-dir", self.data_dir,
                                      "--listen", f"127.0.0.1:{self.port}", *self.extra_args],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 30
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"keyward exited with {self.proc.returncode}")
            try:
                urllib.request.urlopen(self.endpoint + "/health", timeout=1)
                break
            except OSError:
                if time.time() > deadline:
                    raise RuntimeError("keyward did not become ready")
                time.sleep(0.05)

    def restart(self):
        """Stops the server and starts it again on the same data directory and port."""
        self.stop()
        self._start()

    def client(self, service):
        return boto3.client(
            service, endpoint_url=self.endpoint, region_name=REGION,
            aws_access_key_id=self.credentials.access_key,
            aws_secret_access_key=self.credentials.secret_key,
            config=botocore.config.Config(retries={"max_attempts": 1},
                                          max_pool_connections=32))

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
