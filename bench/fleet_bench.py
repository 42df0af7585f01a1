#!/usr/bin/env python3
"""Fleet benchmark (issue 4): many agents on real WebSocket control channels held by one
server, a command fanned out to all of them, and the idle cost of one real keyward-agent.

  bench/fleet_bench.py --build build --agents 10000

Phases, each reported as one JSON line and summarised at the end:
  1. connect: agent_swarm opens N control channels (instance credentials registered by
     agent_swarm_setup.py); server memory per connection = (RSS after - RSS before) / N.
  2. fan-out: one SendCommand to every instance (Targets InstanceIds=*); the time until
     ListCommands reports every invocation complete (recorded by the server, not just
     answered by the swarm).
  3. agent idle: one real keyward-agent registered and connected; its RSS, and the CPU
     it used over a quiet interval between heartbeats.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import Keyward  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def fan_out(kw, ssm, agents):
    start = time.time()
    cid = ssm.send_command(Targets=[{"Key": "InstanceIds", "Values": ["*"]}],
                           DocumentName="AWS-RunShellScript", MaxConcurrency="100%",
                           Parameters={"commands": ["true"]})["Command"]["CommandId"]
    sent = time.time() - start
    while True:
        c = ssm.list_commands(CommandId=cid)["Commands"][0]
        if c["CompletedCount"] >= agents:
            return {"phase": "fan-out", "agents": agents, "send_command_s": round(sent, 3),
                    "all_recorded_s": round(time.time() - start, 3), "status": c["Status"],
                    "errors": c["ErrorCount"]}
        if time.time() - start > 120:
            return {"phase": "fan-out", "agents": agents, "timeout": True,
                    "completed": c["CompletedCount"]}
        time.sleep(0.1)


def agent_idle(args, kw, tmp, quiet_s):
    ssm = kw.client("ssm")
    iam = kw.client("iam")
    try:
        iam.create_role(RoleName="IdleAgentRole", AssumeRolePolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {
                "Service": "ssm.amazonaws.com"}, "Action": "sts:AssumeRole"}]}))
    except iam.exceptions.EntityAlreadyExistsException:
        pass
    act = ssm.create_activation(IamRole="IdleAgentRole", RegistrationLimit=1)
    agent = os.path.join(args.build, "bin", "keyward-agent")
    state = os.path.join(tmp, "agent-state")
    subprocess.run([agent, "register", "--endpoint", kw.endpoint, "--code", act["ActivationCode"],
                    "--id", act["ActivationId"], "--region", "us-east-1", "--state-dir", state],
                   check=True, capture_output=True)
    log = open(os.path.join(tmp, "agent.log"), "wb")
    proc = subprocess.Popen([agent, "run", "--state-dir", state], stdout=log, stderr=subprocess.STDOUT)
    time.sleep(5)  # registered, credentials obtained, channel open, hello sent
    before = cpu_ticks(proc.pid)
    time.sleep(quiet_s)
    used = cpu_ticks(proc.pid) - before
    rss = rss_kib(proc.pid)
    proc.terminate()
    proc.wait(timeout=20)
    hz = os.sysconf("SC_CLK_TCK")
    return {"phase": "agent-idle", "rss_kib": rss, "cpu_ms_over_quiet": used * 1000 // hz,
            "quiet_s": quiet_s}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--agents", type=int, default=10000)
    ap.add_argument("--rounds", type=int, default=3, help="fan-out rounds (median reported)")
    ap.add_argument("--quiet", type=int, default=25, help="seconds of agent idleness measured")
    args = ap.parse_args()
    results = []
    with tempfile.TemporaryDirectory(prefix="kw-fleet-bench-") as tmp:
        kw = Keyward(os.path.join(args.build, "bin", "keyward"), tmp)
        try:
            creds = os.path.join(tmp, "swarm.json")
            subprocess.run([sys.executable, os.path.join(HERE, "agent_swarm_setup.py"),
                            "--endpoint", kw.endpoint, "--admin-credentials",
                            os.path.join(kw.data_dir, "admin-credentials"),
                            "--count", str(args.agents), "--out", creds], check=True)
            rss_before = rss_kib(kw.proc.pid)
            swarm = subprocess.Popen(
                [os.path.join(args.build, "bin", "agent_swarm"), "--endpoint", kw.endpoint,
                 "--credentials-file", creds, "--duration", "3600", "--server-pid", str(kw.proc.pid),
                 "--heartbeat", "30"], stdout=subprocess.PIPE, text=True)
            while True:  # the swarm prints a "start" line, then "connect" once all are in
                line = json.loads(swarm.stdout.readline())
                if line.get("phase") == "connect":
                    break
            time.sleep(2)
            rss_after = rss_kib(kw.proc.pid)
            line["server_rss_before_kib"] = rss_before
            line["server_rss_after_kib"] = rss_after
            line["server_kib_per_connection"] = round((rss_after - rss_before) / max(1, line["connected"]), 2)
            print(json.dumps(line), flush=True)
            results.append(line)
            ssm = kw.client("ssm")
            rounds = []
            for _ in range(args.rounds):
                r = fan_out(kw, ssm, line["connected"])
                print(json.dumps(r), flush=True)
                rounds.append(r)
            swarm.terminate()
            swarm.wait(timeout=30)
            ok = [r["all_recorded_s"] for r in rounds if "all_recorded_s" in r]
            if ok:
                ok.sort()
                results.append({"phase": "fan-out median", "all_recorded_s": ok[len(ok) // 2],
                                "rounds": len(ok)})
            r = agent_idle(args, kw, tmp, args.quiet)
            print(json.dumps(r), flush=True)
            results.append(r)
        finally:
            kw.stop()
    print(json.dumps({"summary": results}, indent=1))


if __name__ == "__main__":
    main()
