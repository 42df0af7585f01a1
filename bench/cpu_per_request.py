#!/usr/bin/env python3
"""Server CPU per request: less sensitive to the shared machine's load than requests/s.

Copies a filled data directory (secrets_scaling_bench.py's, e.g.
/var/tmp/keyward-scaling/10000), starts keyward on the copy, and reads the server's
user+system CPU time (/proc/PID/stat) around wrk runs (2 threads, 64 connections):
pre-signed GetSecretValue over 256 random secrets, then GET /health; or, with --put,
pre-signed PutSecretValue over the first 1,000 secrets, each request once. Prints req/s
and server CPU microseconds per request.

    bench/cpu_per_request.py --bin build/bin/keyward --data /var/tmp/keyward-scaling/10000
        [--secrets 10000] [--put] [--duration 8] [--server-arg=--no-event-log]
"""
import argparse
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import secrets_bench as sb  # noqa: E402
from benchlib import Keyward  # noqa: E402


def server_cpu_seconds(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measured(kw, wrk_args):
    """(req/s, server CPU us per request) of one wrk run."""
    before = server_cpu_seconds(kw.proc.pid)
    out = subprocess.run(["wrk", *wrk_args], capture_output=True, text=True, check=True).stdout
    used = server_cpu_seconds(kw.proc.pid) - before
    n = int(re.search(r"(\d+) requests in", out).group(1))
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    return rps, used / n * 1e6


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="build/bin/keyward")
    ap.add_argument("--data", required=True, help="a filled data root (holding d/)")
    ap.add_argument("--secrets", type=int, default=10000)
    ap.add_argument("--put", action="store_true")
    ap.add_argument("--duration", type=int, default=8)
    ap.add_argument("--server-arg", action="append", default=[])
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="keyward-cpu-")
    shutil.copytree(os.path.join(args.data, "d"), os.path.join(tmp, "d"))
    kw = Keyward(os.path.abspath(args.bin), tmp, args.server_arg)
    try:
        base = ["-t2", "-c64", f"-d{args.duration}s", "-s", sb.LUA, kw.endpoint + "/", "--"]
        if args.put:
            targets = [sb.secret_name(i) for i in range(min(args.secrets, 1000))]
            path = os.path.join(tmp, "put.tsv")
            sb.write_pool(path, sb.write_requests(kw, 30000, targets))
            rps, us = measured(kw, [*base, path, "once", "2"])
            print(f"PutSecretValue: {rps:,.0f} req/s, {us:.1f} us server CPU per request")
            return
        rng = random.Random(args.secrets)
        names = [sb.secret_name(rng.randrange(args.secrets)) for _ in range(256)]
        path = os.path.join(tmp, "get.tsv")
        sb.write_pool(path, sb.read_pool(kw, names))
        subprocess.run(["wrk", "-t2", "-c64", "-d2s", "-s", sb.LUA, kw.endpoint + "/", "--",
                        path, "cycle", "2"], capture_output=True, check=True)  # warm up
        rps, us = measured(kw, [*base, path, "cycle", "2"])
        hrps, hus = measured(kw, ["-t2", "-c64", f"-d{args.duration}s", kw.endpoint + "/health"])
        print(f"GetSecretValue: {rps:,.0f} req/s, {us:.1f} us server CPU per request")
        print(f"GET /health:    {hrps:,.0f} req/s, {hus:.1f} us server CPU per request")
    finally:
        kw.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
