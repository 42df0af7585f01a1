#!/usr/bin/env python3
"""Does a GetSecretValue cost more with a bigger store? Instructions per request, counted.

Wall-clock latency on this shared 2-core machine swings with whatever else runs, so this
bench counts what the server executes instead: for each store size it starts keyward
under valgrind's callgrind on a data directory filled with that many secrets (filled
through the API once, then kept in --data-root for later runs), warms the caches, and
reads the instruction counter (callgrind_control) around:

  idle     10 s windows with no requests until one executes under 5 M instructions (the
           first windows after start include the one-time scans that run once after
           start-up and then hourly); the first and last are reported
  GSV      20 s of pre-signed GetSecretValue over 256 random secrets (wrk, 4 connections)
  health   10 s of GET /health

Instructions (Ir) count every thread of the server (request threads, the event-log
writer, maintenance), so "per request" includes the background work a request causes.
Prints a Markdown table.

    bench/secrets_scaling_bench.py [--bin build/bin/keyward] [--sizes 1000,100000]
                                   [--data-root /var/tmp/keyward-scaling]
                                   [--server-arg=--no-event-log]
"""
import argparse
import configparser
import glob
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

from botocore.credentials import Credentials

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import secrets_bench as sb  # noqa: E402
from benchlib import Keyward, free_port  # noqa: E402


def fill(binary, root, count):
    """A data directory under `root` holding `count` secrets (made once, then reused)."""
    done = os.path.join(root, "filled")
    if os.path.exists(done) and open(done).read().strip() == str(count):
        return
    shutil.rmtree(root, ignore_errors=True)
    os.makedirs(root)
    kw = Keyward(binary, root)
    try:
        secs = sb.create_secrets(kw, 0, count)
        print(f"  {count} secrets created in {secs:.0f}s", file=sys.stderr)
    finally:
        kw.stop()
    with open(done, "w") as f:
        f.write(str(count))


class Counted:
    """keyward under callgrind on an existing data directory."""

    def __init__(self, binary, root, out_dir, extra_args):
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.out_dir = out_dir
        self.proc = subprocess.Popen(
            ["valgrind", "--tool=callgrind", "--dump-instr=no",
             f"--callgrind-out-file={out_dir}/cg.%p.out", binary, "server",
             "--data-dir", os.path.join(root, "d"), "--listen", f"127.0.0.1:{self.port}", *extra_args],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 120
        while True:
            try:
                urllib.request.urlopen(self.endpoint + "/health", timeout=2)
                break
            except OSError:
                if time.time() > deadline or self.proc.poll() is not None:
                    raise RuntimeError("keyward under callgrind did not become ready")
                time.sleep(0.5)
        creds = configparser.ConfigParser()
        creds.read(os.path.join(root, "d", "admin-credentials"))
        self.credentials = Credentials(creds["default"]["aws_access_key_id"],
                                       creds["default"]["aws_secret_access_key"])

    def _ctl(self, flag):
        subprocess.run(["callgrind_control", flag, str(self.proc.pid)], check=True,
                       capture_output=True)

    def count(self, work):
        """Instructions executed while `work()` runs, and what work() returned."""
        self._ctl("-z")
        result = work()
        self._ctl("-d")
        dumps = sorted(glob.glob(f"{self.out_dir}/cg.{self.proc.pid}.out.*"),
                       key=os.path.getmtime)
        with open(dumps[-1]) as f:
            for line in f:
                if line.startswith(("totals:", "summary:")):
                    return int(line.split()[1]), result
        raise RuntimeError("no totals in the callgrind dump")

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=120)


def wrk_requests(args):
    out = subprocess.run(["wrk", *args], capture_output=True, text=True, check=True).stdout
    return int(re.search(r"(\d+) requests in", out).group(1))


def measure(binary, root, count, tmp, extra_args):
    kw = Counted(binary, root, tmp, extra_args)
    try:
        rng = random.Random(count)
        names = [sb.secret_name(rng.randrange(count)) for _ in range(256)]
        pool = sb.read_pool(kw, names)
        status, body = sb.send(kw, pool[0])
        if status != 200 or body.get("Name") != names[0]:
            raise RuntimeError(f"pre-signed GetSecretValue failed: {status} {body}")
        pool_path = os.path.join(tmp, "pool.tsv")
        sb.write_pool(pool_path, pool)
        gsv = ["-t1", "-c4", "-s", sb.LUA, kw.endpoint + "/", "--", pool_path, "cycle", "1"]
        wrk_requests(["-d3s", *gsv])  # warm every pooled secret
        # The one-time scans after start-up take seconds under callgrind: wait them out,
        # so that the windows below measure only steady state.
        idle = [kw.count(lambda: time.sleep(10))[0]]
        while idle[-1] > 5e6 and len(idle) < 8:
            idle.append(kw.count(lambda: time.sleep(10))[0])
        ir, n = kw.count(lambda: wrk_requests(["-d20s", *gsv]))
        hir, hn = kw.count(lambda: wrk_requests(["-t1", "-c4", "-d10s", kw.endpoint + "/health"]))
        return {"idle1": idle[0], "idle2": idle[-1], "windows": len(idle), "gsv": ir / n, "gsv_n": n,
                "health": hir / hn, "health_n": hn}
    finally:
        kw.stop()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="build/bin/keyward")
    ap.add_argument("--sizes", default="1000,100000")
    ap.add_argument("--data-root", default="/var/tmp/keyward-scaling")
    ap.add_argument("--server-arg", action="append", default=[],
                    help="passed to `keyward server` when measuring, e.g. --no-event-log")
    args = ap.parse_args()
    binary = os.path.abspath(args.bin)
    rows = {}
    for count in [int(s) for s in args.sizes.split(",")]:
        root = os.path.join(args.data_root, str(count))
        fill(binary, root, count)
        tmp = tempfile.mkdtemp(prefix="keyward-scaling-")
        try:
            rows[count] = measure(binary, root, count, tmp, args.server_arg)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        print(f"  {count}: {rows[count]}", file=sys.stderr)
    print("| secrets | idle Ir / 10 s (first, last window) | GetSecretValue Ir / request "
          "(requests) | /health Ir / request (requests) |")
    print("|---|---|---|---|")
    for count, r in rows.items():
        print(f"| {count:,} | {r['idle1'] / 1e6:.1f} M, {r['idle2'] / 1e6:.1f} M | "
              f"{r['gsv'] / 1e3:.1f} k ({r['gsv_n']:,}) | "
              f"{r['health'] / 1e3:.1f} k ({r['health_n']:,}) |")
    sizes = list(rows)
    if len(sizes) >= 2:
        lo, hi = rows[sizes[0]], rows[sizes[-1]]
        print(f"\nGetSecretValue instructions per request, {sizes[-1]:,} / {sizes[0]:,} secrets: "
              f"{hi['gsv'] / lo['gsv']:.3f}; /health: {hi['health'] / lo['health']:.3f}")


if __name__ == "__main__":
    main()
