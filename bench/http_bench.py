#!/usr/bin/env python3
"""Authenticated sts:GetCallerIdentity vs. GET /health, with wrk, on one server.

Starts keyward on a fresh data directory, presigns a GetCallerIdentity URL with
botocore, and runs wrk (64 connections) alternately against that URL and /health,
several rounds, so both see the same machine state. Prints medians as a Markdown table.

    bench/http_bench.py [--bin build/bin/keyward] [--rounds 3] [--duration 10]
"""
import argparse
import configparser
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

import boto3


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def parse_wrk(text):
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
    def pct(p):
        m = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s)\s*$", text, re.M)
        v, unit = float(m.group(1)), m.group(2)
        return v * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    return {"rps": rps, "p50_ms": pct(50), "p99_ms": pct(99),
            "errors": int(non2xx.group(1)) if non2xx else 0}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="build/bin/keyward")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2, help="wrk threads")
    args = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="keyward-bench-")
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([args.bin, "server", "--data-dir", os.path.join(tmp, "d"),
                               "--listen", f"127.0.0.1:{port}"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(endpoint + "/health", timeout=1)
                break
            except OSError:
                time.sleep(0.05)
        creds = configparser.ConfigParser()
        creds.read(os.path.join(tmp, "d", "admin-credentials"))
        sts = boto3.client("sts", endpoint_url=endpoint, region_name="us-east-1",
                           aws_access_key_id=creds["default"]["aws_access_key_id"],
                           aws_secret_access_key=creds["default"]["aws_secret_access_key"])
        url = sts.generate_presigned_url("get_caller_identity", Params={}, ExpiresIn=3600,
                                     HttpMethod="GET")
        with urllib.request.urlopen(url) as r:
            assert b"GetCallerIdentityResult" in r.read()
        results = {"health": [], "sts": []}
        for _ in range(args.rounds):
            for name, target in (("health", endpoint + "/health"), ("sts", url)):
                out = subprocess.run(
                    ["wrk", "-t", str(args.threads), "-c", str(args.connections),
                     "-d", f"{args.duration}s", "--latency", target],
                    capture_output=True, text=True, check=True).stdout
                results[name].append(parse_wrk(out))
        med = {k: {m: statistics.median(r[m] for r in v) for m in v[0]} for k, v in results.items()}
        print(f"| request | req/s (median of {args.rounds}) | p50 ms | p99 ms | non-2xx |")
        print("|---|---|---|---|---|")
        print(f"| GET /health | {med['health']['rps']:.0f} | {med['health']['p50_ms']:.2f} | "
              f"{med['health']['p99_ms']:.2f} | {med['health']['errors']:.0f} |")
        print(f"| sts:GetCallerIdentity (presigned, SigV4 verified) | {med['sts']['rps']:.0f} | "
              f"{med['sts']['p50_ms']:.2f} | {med['sts']['p99_ms']:.2f} | {med['sts']['errors']:.0f} |")
        print(f"\nratio authenticated/health: {med['sts']['rps'] / med['health']['rps']:.2f}")
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
