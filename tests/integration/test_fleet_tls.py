"""The fleet over TLS: `keyward server --tls-cert/--tls-key` serves HTTPS and the agents'
control channel as WSS; keyward-agent verifies the server's certificate (--ca-file), and
refuses a server it cannot verify."""
import datetime
import ipaddress
import json
import os

import pytest

from conftest import Server
from fleet import Agent, Host, Network, can_isolate_hosts, wait_for

ROLE = "TlsFleetRole"


def self_signed(directory, ips):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "keyward test")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = os.path.join(directory, "cert.pem"), os.path.join(directory, "key.pem")
    with open(cert_path, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(key_path, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    os.chmod(key_path, 0o600)
    return cert_path, key_path


@pytest.fixture(scope="module")
def tls_fleet(tmp_root):
    pytest.importorskip("cryptography")
    if not can_isolate_hosts():
        pytest.skip("this machine does not allow mount/UTS namespaces (unshare)")
    root = os.path.join(tmp_root, "fleet-tls")
    os.makedirs(root, exist_ok=True)
    net = Network.create()
    ips = ["127.0.0.1"] + ([net.server_ip] if net else [])
    cert, key = self_signed(root, ips)
    other_ca, _ = self_signed(_subdir(root, "other"), ips)
    server = Server(os.path.join(root, "data"), listen_host="0.0.0.0", tls=(cert, key))
    agents = []
    yield {"root": root, "net": net, "server": server, "cert": cert, "other_ca": other_ca,
           "agents": agents}
    for a in agents:
        a.kill()
    server.stop()
    if net:
        net.destroy()


def _subdir(root, name):
    d = os.path.join(root, name)
    os.makedirs(d, exist_ok=True)
    return d


def test_agent_registers_runs_commands_over_tls_and_refuses_an_unverified_server(tls_fleet):
    server, net = tls_fleet["server"], tls_fleet["net"]
    assert server.endpoint.startswith("https://")
    iam, ssm = server.client("iam"), server.client("ssm")
    iam.create_role(RoleName=ROLE, AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {
            "Service": "ssm.amazonaws.com"}, "Action": "sts:AssumeRole"}]}))
    act = ssm.create_activation(IamRole=ROLE, RegistrationLimit=1)
    if net:
        ns, ip = net.add_host(1)
        host = Host(tls_fleet["root"], "tlshost", netns=ns, ip=ip)
        endpoint = f"https://{net.server_ip}:{server.port}"
    else:
        host = Host(tls_fleet["root"], "tlshost")
        endpoint = server.endpoint
    agent = Agent(host, endpoint)
    tls_fleet["agents"].append(agent)

    # A server whose certificate the agent cannot verify gets nothing, not even the code.
    wrong = agent.register(act["ActivationId"], act["ActivationCode"], "--ca-file",
                           tls_fleet["other_ca"], check=False)
    assert wrong.returncode != 0
    assert "certificate" in (wrong.stdout + wrong.stderr).lower()

    agent.register(act["ActivationId"], act["ActivationCode"], "--ca-file", tls_fleet["cert"])
    agent.start("--ca-file", tls_fleet["cert"])
    iid = agent.instance_id

    def online():
        info = ssm.describe_instance_information(
            Filters=[{"Key": "InstanceIds", "Values": [iid]}])["InstanceInformationList"]
        return info and info[0]["PingStatus"] == "Online"
    wait_for(online, timeout=30, what="the TLS agent online")
    cid = ssm.send_command(InstanceIds=[iid], DocumentName="AWS-RunShellScript",
                           Parameters={"commands": ["echo over-wss"]})["Command"]["CommandId"]

    def done():
        inv = ssm.list_command_invocations(CommandId=cid)["CommandInvocations"]
        return inv and inv[0]["Status"] in ("Success", "Failed", "TimedOut") and inv[0]
    assert wait_for(done, timeout=30, what="the command")["Status"] == "Success"
    out = ssm.get_command_invocation(CommandId=cid, InstanceId=iid)
    assert out["StandardOutputContent"].strip() == "over-wss"
