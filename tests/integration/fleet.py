"""Real keyward-agent processes for the fleet tests, each on a host of its own.

Each agent runs in its own mount and UTS namespace (unshare), with its own
/etc/machine-id bind-mounted and its own hostname, so the host fingerprint is really
different; where the machine allows it (root, iproute2), each also gets a network
namespace with its own address on a bridge, so the server sees a distinct source IP.
Nothing in the agent knows it is under test.
"""
import json
import os
import shutil
import signal
import subprocess
import time
import uuid

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
AGENT_BIN = os.environ.get("KEYWARD_AGENT_BIN", os.path.join(REPO, "build", "bin", "keyward-agent"))

BRIDGE = "kwtbr0"
SUBNET = "10.213.7"


def _run(*cmd, check=True):
    return subprocess.run(list(cmd), capture_output=True, text=True, check=check)


def can_isolate_hosts():
    """True when this machine lets us give a process its own mount and UTS namespace."""
    try:
        return subprocess.run(["unshare", "--mount", "--uts", "--fork", "true"],
                              capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


class Network:
    """A bridge with one network namespace per host; None when the machine forbids it.
    Test files that may run beside the fleet tests pass a bridge, subnet and one-letter
    tag of their own, so that neither deletes the other's bridge."""

    def __init__(self, bridge=BRIDGE, subnet=SUBNET, tag="t"):
        self.namespaces = []
        self.bridge, self.subnet, self.tag = bridge, subnet, tag
        self.server_ip = f"{subnet}.1"

    @classmethod
    def create(cls, bridge=BRIDGE, subnet=SUBNET, tag="t"):
        if os.geteuid() != 0 or shutil.which("ip") is None:
            return None
        net = cls(bridge, subnet, tag)
        try:
            _run("ip", "link", "del", bridge, check=False)
            _run("ip", "link", "add", bridge, "type", "bridge")
            _run("ip", "addr", "add", f"{net.server_ip}/24", "dev", bridge)
            _run("ip", "link", "set", bridge, "up")
        except (subprocess.CalledProcessError, OSError):
            _run("ip", "link", "del", bridge, check=False)
            return None
        return net

    def add_host(self, index):
        """A namespace kw<tag><pid>n<index> whose eth0 has SUBNET.<10+index>; returns (name, ip)."""
        name = f"kw{self.tag}{os.getpid() % 10000}n{index}"
        ip = f"{self.subnet}.{10 + index}"
        pid = os.getpid() % 1000
        host_if, ns_if = f"kw{self.tag}v{index}h{pid}", f"kw{self.tag}v{index}n{pid}"
        # Names derive from the pid, so a run killed before destroy() (its interfaces
        # outlive it) can hold a name this run gets: clear them first, as for the bridge.
        _run("ip", "netns", "del", name, check=False)
        _run("ip", "link", "del", host_if, check=False)
        _run("ip", "netns", "add", name)
        _run("ip", "link", "add", host_if, "type", "veth", "peer", "name", ns_if)
        _run("ip", "link", "set", host_if, "master", self.bridge)
        _run("ip", "link", "set", host_if, "up")
        _run("ip", "link", "set", ns_if, "netns", name)
        _run("ip", "netns", "exec", name, "ip", "link", "set", ns_if, "name", "eth0")
        _run("ip", "netns", "exec", name, "ip", "addr", "add", f"{ip}/24", "dev", "eth0")
        _run("ip", "netns", "exec", name, "ip", "link", "set", "eth0", "up")
        _run("ip", "netns", "exec", name, "ip", "link", "set", "lo", "up")
        self.namespaces.append(name)
        return name, ip

    def destroy(self):
        for name in self.namespaces:
            _run("ip", "netns", "del", name, check=False)
        _run("ip", "link", "del", self.bridge, check=False)


class Host:
    """An identity (machine-id, hostname) and optionally a network namespace."""

    def __init__(self, root, name, netns=None, ip="127.0.0.1", setup=()):
        self.setup = list(setup)  # shell commands run inside the host's namespaces first
        self.name = name
        self.netns = netns
        self.ip = ip
        self.dir = os.path.join(root, name)
        os.makedirs(self.dir, exist_ok=True)
        self.machine_id_file = os.path.join(self.dir, "machine-id")
        with open(self.machine_id_file, "w") as f:
            f.write(uuid.uuid4().hex + "\n")

    def wrap(self, argv):
        """argv run as on this host: own mount + UTS namespace, own machine-id and hostname."""
        steps = [f"mount --bind {self.machine_id_file} /etc/machine-id", f"hostname {self.name}",
                 *self.setup, 'exec "$@"']
        inner = " && ".join(steps)
        cmd = ["unshare", "--mount", "--uts", "--fork", "sh", "-c", inner, "sh", *argv]
        if self.netns:
            cmd = ["ip", "netns", "exec", self.netns, *cmd]
        return cmd


class Agent:
    """A keyward-agent with its own state directory on a Host."""

    def __init__(self, host, endpoint, region="us-east-1", state_dir=None, env=None):
        self.host = host
        self.endpoint = endpoint
        self.region = region
        self.state_dir = state_dir or os.path.join(host.dir, "state")
        self.log_path = os.path.join(host.dir, f"agent-{len(os.listdir(host.dir))}.log")
        self.proc = None
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        self.env.update({"AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null"})
        self.env.update(env or {})

    def register(self, activation_id, code, *extra, check=True):
        p = subprocess.run(self.host.wrap([
            AGENT_BIN, "register", "--endpoint", self.endpoint, "--code", code,
            "--id", activation_id, "--region", self.region, "--state-dir", self.state_dir, *extra]),
            capture_output=True, text=True, timeout=60, env=self.env)
        if check and p.returncode != 0:
            raise AssertionError(f"register failed: {p.stdout}{p.stderr}")
        return p

    @property
    def instance_id(self):
        with open(os.path.join(self.state_dir, "registration.json")) as f:
            return json.load(f)["InstanceId"]

    def start(self, *extra):
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            self.host.wrap([AGENT_BIN, "run", "--state-dir", self.state_dir, "--heartbeat", "2", *extra]),
            stdout=self.log, stderr=subprocess.STDOUT, env=self.env, start_new_session=True)
        return self

    def run_cli(self, *args, timeout=60):
        return subprocess.run(self.host.wrap([AGENT_BIN, *args, "--state-dir", self.state_dir]),
                              capture_output=True, text=True, timeout=timeout, env=self.env)

    def kill(self, sig=signal.SIGKILL):
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.proc = None

    def stop(self):
        self.kill(signal.SIGTERM)

    def output(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return ""


def wait_for(predicate, timeout=30, interval=0.2, what="condition"):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")
