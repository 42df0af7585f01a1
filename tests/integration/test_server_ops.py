"""Operating the server: first start, files and modes, metrics, restart, shutdown."""
import os
import re
import signal
import stat
import subprocess
import urllib.request

from conftest import BIN, Server, free_port


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_first_start_creates_private_files_and_prints_no_secret(server):
    assert mode(server.data_dir) == 0o700
    assert mode(os.path.join(server.data_dir, "master.key")) == 0o600
    creds = os.path.join(server.data_dir, "admin-credentials")
    assert mode(creds) == 0o600
    text = open(creds).read()
    assert text.startswith("[default]\n")
    assert re.search(r"^aws_access_key_id = AKIA[A-Z2-7]{16}$", text, re.M)
    out = server.output()
    assert "admin-credentials" in out
    assert server.admin_secret not in out
    for path in os.listdir(server.data_dir):
        if path.startswith("keyward.db"):
            assert mode(os.path.join(server.data_dir, path)) == 0o600, path


def test_metrics_count_requests_and_auth_failures(server, iam):
    iam.list_users()
    bad = server.client("iam", server.admin_key, "x" * 40)
    try:
        bad.list_users()
    except Exception:
        pass
    with urllib.request.urlopen(server.endpoint + "/metrics", timeout=5) as r:
        text = r.read().decode()
    assert re.search(r'keyward_requests_total\{[^}]*service="iam"[^}]*operation="ListUsers"'
                     r'[^}]*status="200"[^}]*\} [1-9]', text), text[:2000]
    assert re.search(r'keyward_auth_failures_total\{reason="SignatureDoesNotMatch"\} [1-9]', text)
    assert "keyward_request_duration_seconds_bucket" in text


def test_restart_keeps_state_and_sigterm_is_graceful(tmp_root):
    data = os.path.join(tmp_root, "restart")
    first = Server(data)
    account = first.client("sts").get_caller_identity()["Account"]
    first.client("iam").create_user(UserName="survivor")
    assert first.stop() == 0  # SIGTERM: clean exit
    second = Server(data)
    try:
        assert second.admin_key == first.admin_key
        assert second.client("sts").get_caller_identity()["Account"] == account
        assert second.client("iam").get_user(UserName="survivor")["User"]["UserName"] == "survivor"
        assert "created administrator" not in second.output()
    finally:
        second.stop()


def test_config_file_sets_listen_and_data_dir(tmp_root):
    port = free_port()
    data = os.path.join(tmp_root, "from-config")
    cfg = os.path.join(tmp_root, "keyward.yaml")
    with open(cfg, "w") as f:
        f.write(f"data_dir: {data}\nlisten: 127.0.0.1:{port}\n")
    p = subprocess.Popen([BIN, "server", "--config", cfg], stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT)
    try:
        for _ in range(200):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                import time
                time.sleep(0.05)
        assert os.path.exists(os.path.join(data, "admin-credentials"))
    finally:
        p.send_signal(signal.SIGTERM)
        assert p.wait(timeout=20) == 0


def test_bad_config_key_is_a_clear_error(tmp_root):
    cfg = os.path.join(tmp_root, "bad.yaml")
    with open(cfg, "w") as f:
        f.write("lisen: 127.0.0.1:1\n")
    p = subprocess.run([BIN, "server", "--config", cfg], capture_output=True, text=True,
                       timeout=20)
    assert p.returncode != 0
    assert "lisen" in (p.stdout + p.stderr)
