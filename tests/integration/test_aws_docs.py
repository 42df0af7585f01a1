"""docs/aws.md (issue 7) against the binary it documents: every flag its commands use is
one the CLI accepts, and its integrations file and rotation policy are ones a keyward
server accepts as written. No AWS is reached: the server runs without credentials, so
nothing is signed and nothing is sent."""
import json
import os
import re
import time

import pytest

from aws_moto import run_keyward
from conftest import REPO, Server
from test_external_issuer import environment, keyward_call

DOC = os.path.join(REPO, "docs", "aws.md")


def read_doc():
    with open(DOC) as f:
        return f.read()


def code_blocks(text, language):
    return re.findall(r"```" + language + r"\n(.*?)```", text, re.S)


def commands(text, prefix):
    """The command lines starting with `prefix` in the doc's code blocks, continuation
    lines joined."""
    out = []
    for block in re.findall(r"```[a-z]*\n(.*?)```", text, re.S):
        joined = re.sub(r"\\\n\s*", " ", block)
        for line in joined.splitlines():
            at = line.find(prefix)
            if at >= 0:
                out.append(line[at:])
    return out


def flags(command):
    return set(re.findall(r"(?<![\w-])(--[a-z][a-z-]*)", command))


def help_text(*args):
    p = run_keyward([*args, "--help"], "unused", "unused")
    assert p.returncode == 0, p.stdout + p.stderr
    return p.stdout


def test_the_walkthrough_exists_and_covers_the_seeds_steps():
    text = read_doc()
    for step in ("keyward aws bootstrap", "--apply", "amazon-ssm-agent -register",
                 "integrations.yaml", "CreateRotationPolicy", "keyward rotate --once"):
        assert step in text, step


def test_every_bootstrap_flag_of_the_doc_is_accepted():
    text = read_doc()
    lines = commands(text, "keyward aws bootstrap")
    assert len(lines) >= 2, lines
    # Its own options, and the global ones (--region, --output) that any command takes.
    accepted = flags(help_text("aws", "bootstrap")) | flags(help_text())
    used = set().union(*(flags(c) for c in lines))
    # The endpoint overrides and options named in prose, in backquotes.
    section = text[text.index("keyward aws bootstrap"):text.index("## 2.")]
    used |= set(re.findall(r"`(--[a-z][a-z-]*)", section))
    assert {"--user", "--secret-name", "--apply", "--endpoint-url"} <= used, used
    missing = [f for f in sorted(used) if f not in accepted]
    assert not missing, f"docs/aws.md uses flags `keyward aws bootstrap` lacks: {missing}"


def test_the_timer_command_of_the_doc_is_accepted():
    lines = commands(read_doc(), "keyward rotate --once")
    assert lines, "no `keyward rotate --once` command in docs/aws.md"
    accepted = flags(help_text("rotate", "--once"))
    for line in lines:
        missing = [f for f in sorted(flags(line)) if f not in accepted]
        assert not missing, f"{line}: {missing}"


def test_the_documented_integrations_and_policy_are_accepted(tmp_root):
    text = read_doc()
    yaml_blocks = [b for b in code_blocks(text, "yaml") if "issuers:" in b]
    assert len(yaml_blocks) == 1, yaml_blocks
    policies = [json.loads(b) for b in code_blocks(text, "json") if "UserName" in b]
    assert len(policies) == 1, policies
    policy = policies[0]
    root = os.path.join(tmp_root, "aws-docs")
    os.makedirs(root, exist_ok=True)
    integrations = os.path.join(root, "integrations.yaml")
    with open(integrations, "w") as f:
        f.write(yaml_blocks[0])
    # The names the policy uses are the ones the integrations file defines.
    assert f"\n  {policy['Issuer']}:\n" in yaml_blocks[0]
    assert f"\n  {policy['SecretTarget']}:\n" in yaml_blocks[0]
    assert f"\n  {policy['Delivery']['Type']}:\n" in yaml_blocks[0]
    # No credentials anywhere: the server must still start, and sign nothing.
    with environment(AWS_SHARED_CREDENTIALS_FILE=os.path.join(root, "none"),
                     AWS_CONFIG_FILE=os.path.join(root, "none"), AWS_EC2_METADATA_DISABLED="true"):
        kw = Server(os.path.join(root, "kw"), extra_args=("--integrations", integrations))
    try:
        created = keyward_call(kw, "CreateRotationPolicy", policy)["RotationPolicy"]
        assert created["Issuer"] == policy["Issuer"]
        assert created["SecretTarget"] == policy["SecretTarget"]
        assert created["Delivery"]["Type"] == policy["Delivery"]["Type"]
        assert created["Delivery"]["Parameters"] == policy["Delivery"]["Parameters"]
        # The first rotation cannot go on without credentials, and says which were tried.
        # (The scheduler may have queued it already: the secret's age is unknown.)
        try:
            keyward_call(kw, "RotateNow", {"PolicyId": created["PolicyId"]})
        except AssertionError as e:
            assert "InvalidRequestException" in str(e), e
        deadline = time.time() + 15
        reason = ""
        while time.time() < deadline and "no credentials" not in reason:
            rotations = keyward_call(kw, "ListRotations", {"PolicyId": created["PolicyId"]})
            reason = " ".join(r.get("WaitingReason", "") + r.get("FailureReason", "")
                              for r in rotations["Rotations"])
            time.sleep(0.3)
        assert "no credentials" in reason, reason
    finally:
        kw.stop()
