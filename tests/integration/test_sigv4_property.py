"""Property test: requests signed by botocore's own SigV4 signer verify in keyward.

Random requests (methods, paths with unicode and reserved characters, query strings
with repeated and empty keys, headers, bodies, session tokens, presigned URLs) are
signed with botocore.auth.SigV4Auth / SigV4QueryAuth and fed in one batch to the C++
tool sigv4_verify_tool (src/sigv4/tools/), which must accept every one. Then one
signed byte of each request is changed (method, a path character, a query
character, a signed header value, a body byte, the signature, the date) and every
mutant must be rejected.

The tool is found under $KEYWARD_BUILD_DIR (default "build", relative to the repo
root) in bin/ or tests/; the test is skipped when it has not been built.
"""

import base64
import datetime
import json
import os
import pathlib
import random
import subprocess
import time
from urllib.parse import quote, urlsplit

import pytest

botocore = pytest.importorskip("botocore")
from botocore.auth import SigV4Auth, SigV4QueryAuth  # noqa: E402
from botocore.awsrequest import AWSRequest  # noqa: E402
from botocore.credentials import Credentials  # noqa: E402

REPO = pathlib.Path(__file__).resolve().parents[2]
FIXED_SEED = 20261129
FIXED_COUNT = 300
RANDOM_SEEDS = 3
RANDOM_COUNT = 60

METHODS = ["GET", "POST", "PUT", "DELETE", "HEAD", "PATCH"]
HOSTS = ["sts.amazonaws.com", "localhost:8443", "127.0.0.1:9000", "keyward.internal"]
SCOPES = [("sts", "us-east-1"), ("iam", "us-east-1"), ("secretsmanager", "eu-west-1"),
          ("ssm", "ap-northeast-1")]
PATH_CHARS = ("abcXYZ019-_.~" + "!$&'()*+,;=:@" + " %/" + "é" + "ሴ" + "😀")
QUERY_CHARS = "abcXYZ019-_.~ !$'()*+,;:@/?=&%" + "é" + "ሴ"
VALUE_CHARS = "abcdefXYZ0189-_.~!\"#$%&'()*+,/:;<=>?@[]^`{|}"
OTHER_METHOD = {"GET": "POST", "POST": "PUT", "PUT": "GET", "DELETE": "GET", "HEAD": "GET",
                "PATCH": "POST"}


def tool_path():
    build = pathlib.Path(os.environ.get("KEYWARD_BUILD_DIR", "build"))
    if not build.is_absolute():
        build = REPO / build
    for sub in ("bin", "tests"):
        candidate = build / sub / "sigv4_verify_tool"
        if candidate.is_file():
            return candidate
    return None


def rand_text(rng, chars, lo, hi):
    return "".join(rng.choice(chars) for _ in range(rng.randint(lo, hi)))


def rand_path(rng):
    if rng.random() < 0.05:
        return ""
    segments = []
    for _ in range(rng.randint(0, 5)):
        r = rng.random()
        if r < 0.08:
            segments.append(".")
        elif r < 0.14:
            segments.append("..")
        elif r < 0.2:
            segments.append("")
        else:
            raw = rand_text(rng, PATH_CHARS, 1, 12)
            if rng.random() < 0.1:
                # Raw UTF-8 on the wire (like the suite's get-utf8), reserved chars encoded.
                segments.append("".join(c if not c.isascii() else quote(c, safe="")
                                        for c in raw))
            else:
                segments.append(quote(raw, safe=rng.choice(["", "!$&'()*+,;=:@"])))
    path = "/" + "/".join(segments)
    if rng.random() < 0.2:
        path += "/"
    return path


def rand_query_pairs(rng):
    pairs = []
    keys = [rand_text(rng, QUERY_CHARS, 0, 8) for _ in range(rng.randint(1, 4))]
    for _ in range(rng.randint(0, 6)):
        pairs.append((rng.choice(keys), rand_text(rng, QUERY_CHARS, 0, 10)))
    return pairs


def rand_query(rng):
    """A query already in canonical encoding, as on the wire (botocore signs it as is)."""
    parts = []
    for key, value in rand_query_pairs(rng):
        k, v = quote(key, safe="-_.~"), quote(value, safe="-_.~")
        parts.append(k if (not v and rng.random() < 0.3) else f"{k}={v}")
    if rng.random() < 0.05:
        parts.append("")  # "a=1&&b=2" / trailing '&'
    return "&".join(parts)


def rand_value(rng):
    core = []
    for _ in range(rng.randint(0, 4)):
        core.append(rand_text(rng, VALUE_CHARS, 1, 8))
    sep = lambda: rng.choice([" ", "  ", "\t", " \t  "])  # noqa: E731
    value = ""
    for i, word in enumerate(core):
        value += (sep() if i else "") + word
    if rng.random() < 0.3:
        value = sep() + value + sep()
    return value


def make_request(rng):
    """Returns (AWSRequest, presigned?, credentials, service, region, expires)."""
    service, region = rng.choice(SCOPES)
    token = None
    if rng.random() < 0.4:
        token = rand_text(rng, "ABCDEFabcdef0123456789+/=", 20, 120)
    creds = Credentials("AKID" + rand_text(rng, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16, 16),
                        rand_text(rng, "ABCDEFabcdef0123456789+/", 40, 40), token)
    presigned = rng.random() < 0.25
    method = rng.choice(["GET", "GET", "POST"]) if presigned else rng.choice(METHODS)
    host = rng.choice(HOSTS)
    path = rand_path(rng)
    url = f"http://{host}{path}"
    params = None
    if rng.random() < 0.15:
        # botocore puts these on the wire with urlencode ('+' for a space).
        params = {k: v for k, v in rand_query_pairs(rng)}
    elif rng.random() < 0.7:
        url += "?" + rand_query(rng)
    headers = {"Host": host}
    for name in rng.sample(["X-Custom-A", "x-amz-meta-note", "Content-Type", "X-Spaces",
                            "User-Agent", "X-Empty"], rng.randint(0, 4)):
        headers[name] = "" if name == "X-Empty" else rand_value(rng)
    data = b""
    if presigned:
        if rng.random() < 0.3:
            data = {"Action": "GetCallerIdentity", "Version": "2011-06-15"}
    elif method not in ("GET", "HEAD") or rng.random() < 0.1:
        if rng.random() < 0.5:
            data = "Action=GetCallerIdentity&Version=2011-06-15".encode()
        else:
            data = bytes(rng.randrange(256) for _ in range(rng.randint(0, 200)))
    if not presigned and rng.random() < 0.15:
        headers["X-Amz-Content-SHA256"] = (
            "UNSIGNED-PAYLOAD" if rng.random() < 0.5
            else __import__("hashlib").sha256(data).hexdigest())
    req = AWSRequest(method=method, url=url, headers=headers, data=data, params=params)
    if rng.random() < 0.15:
        req.headers["X-Dup"] = rand_value(rng)  # HTTPHeaders appends: a repeated header
        req.headers["X-Dup"] = rand_value(rng)
    expires = rng.randint(60, 3600)
    if presigned:
        SigV4QueryAuth(creds, service, region, expires=expires).add_auth(req)
    else:
        SigV4Auth(creds, service, region).add_auth(req)
    return req, presigned, creds


def wire(req):
    """The request as it goes on the wire: target, headers in order, body."""
    prepared = req.prepare()
    parts = urlsplit(prepared.url)
    target = parts.path + ("?" + parts.query if parts.query else "")
    # req.headers keeps repeated headers (the prepared copy folds them).
    headers = [[k, v] for k, v in req.headers.items()]
    body = prepared.body or b""
    if isinstance(body, str):
        body = body.encode()
    return {"method": req.method, "target": target, "headers": headers, "body": body}


def signed_header_names(w):
    for name, value in w["headers"]:
        if name.lower() == "authorization":
            return value.split("SignedHeaders=")[1].split(",")[0].split(";")
    query = w["target"].split("?", 1)[1]
    for pair in query.split("&"):
        if pair.startswith("X-Amz-SignedHeaders="):
            return pair.split("=", 1)[1].replace("%3B", ";").split(";")
    raise AssertionError("no signed headers")


def change_char(rng, text, positions, alphabet):
    pos = rng.choice(positions)
    choices = [c for c in alphabet if c != text[pos]]
    return text[:pos] + rng.choice(choices) + text[pos + 1:]


def mutations(rng, w, presigned):
    """One-byte changes to signed parts. Yields (kind, mutated wire request)."""
    def copy(**kw):
        m = dict(w, headers=[list(h) for h in w["headers"]])
        m.update(kw)
        return m

    yield "method", copy(method=OTHER_METHOD[w["method"]])

    path, _, query = w["target"].partition("?")
    normalize = SigV4Auth(None, "s", "r")._normalize_url_path
    alnum = "abcdefghijklmnopqrstuvwxyz0123456789"
    # A path character that survives normalisation (a byte in a ".." segment does not).
    positions = [i for i, c in enumerate(path) if c.isalnum() and c.isascii()]
    rng.shuffle(positions)
    for pos in positions[:10]:
        new_path = change_char(rng, path, [pos], alnum)
        if normalize(new_path) != normalize(path):
            yield "path", copy(target=new_path + ("?" + query if query else ""))
            break

    # A query character outside percent-escapes and outside X-Amz-Signature.
    escaped = set()
    for i, c in enumerate(query):
        if c == "%":
            escaped.update((i, i + 1, i + 2))
    sig_start = query.find("X-Amz-Signature=")
    positions = [i for i, c in enumerate(query)
                 if c.isascii() and c.isalnum() and i not in escaped
                 and (sig_start < 0 or i < sig_start)]
    if positions:
        yield "query", copy(target=path + "?" + change_char(rng, query, positions, alnum))

    names = signed_header_names(w)
    candidates = [i for i, (n, _) in enumerate(w["headers"]) if n.lower() in names]
    i = rng.choice(candidates)
    m = copy()
    value = m["headers"][i][1]
    spots = [j for j, c in enumerate(value) if not c.isspace()]
    m["headers"][i][1] = (change_char(rng, value, spots, "QWERTYqwerty#") if spots
                          else value + "x")
    yield "header:" + m["headers"][i][0].lower(), m

    unsigned_payload = any(n.lower() == "x-amz-content-sha256" and v == "UNSIGNED-PAYLOAD"
                           for n, v in w["headers"])
    if not unsigned_payload:
        body = bytearray(w["body"])
        if body:
            body[rng.randrange(len(body))] ^= 1 << rng.randrange(8)
        else:
            body = bytearray(b"x")
        yield "body", copy(body=bytes(body))

    if presigned:
        head, _, sig = w["target"].rpartition("X-Amz-Signature=")
        yield "signature", copy(target=head + "X-Amz-Signature=" + change_char(
            rng, sig, range(len(sig)), "0123456789abcdef"))
        date = w["target"].split("X-Amz-Date=")[1][:16]
        later = (datetime.datetime.strptime(date, "%Y%m%dT%H%M%SZ")
                 + datetime.timedelta(seconds=1)).strftime("%Y%m%dT%H%M%SZ")
        yield "date", copy(target=w["target"].replace("X-Amz-Date=" + date,
                                                      "X-Amz-Date=" + later))
    else:
        m = copy()
        for h in m["headers"]:
            if h[0].lower() == "authorization":
                head, _, sig = h[1].rpartition("Signature=")
                h[1] = head + "Signature=" + change_char(rng, sig, range(len(sig)),
                                                         "0123456789abcdef")
        yield "signature", m
        m = copy()
        for h in m["headers"]:
            if h[0].lower() == "x-amz-date":
                h[1] = (datetime.datetime.strptime(h[1], "%Y%m%dT%H%M%SZ")
                        + datetime.timedelta(seconds=1)).strftime("%Y%m%dT%H%M%SZ")
        yield "date", m


def to_line(w, secret, now):
    return json.dumps({"method": w["method"], "target": w["target"], "headers": w["headers"],
                       "body_b64": base64.b64encode(w["body"]).decode(), "secret": secret,
                       "now": now})


def run_tool(tool, lines):
    out = subprocess.run([str(tool), "-v"], input="\n".join(lines) + "\n", text=True,
                         capture_output=True, timeout=120, check=True).stdout
    answers = out.splitlines()
    assert len(answers) == len(lines), out[-2000:]
    return answers


def check_seed(tool, seed, count):
    rng = random.Random(seed)
    originals, mutants = [], []
    for _ in range(count):
        req, presigned, creds = make_request(rng)
        w = wire(req)
        originals.append((w, creds.secret_key, presigned))
        for kind, m in mutations(rng, w, presigned):
            mutants.append((kind, m, creds.secret_key, w))
    now = time.time()
    lines = [to_line(w, s, now) for w, s, _ in originals]
    lines += [to_line(m, s, now) for _, m, s, _ in mutants]
    answers = run_tool(tool, lines)

    failures = []
    for (w, _, presigned), answer in zip(originals, answers):
        if answer != "OK":
            failures.append(f"seed {seed}: rejected valid {'presigned ' if presigned else ''}"
                            f"request {json.dumps({**w, 'body': repr(w['body'])})}: {answer}")
    kinds = {}
    for (kind, m, _, w), answer in zip(mutants, answers[len(originals):]):
        kinds[kind.split(":")[0]] = kinds.get(kind.split(":")[0], 0) + 1
        if answer == "OK":
            failures.append(f"seed {seed}: accepted mutated ({kind}) request "
                            f"{json.dumps({**m, 'body': repr(m['body'])})}")
        elif not answer.startswith(("SignatureDoesNotMatch", "IncompleteSignature",
                                    "RequestExpired")):
            failures.append(f"seed {seed}: unexpected answer for {kind}: {answer}")
    assert not failures, "\n".join(failures[:10]) + f"\n({len(failures)} failures)"
    # Every kind of mutation was exercised.
    assert set(kinds) == {"method", "path", "query", "header", "body", "signature", "date"}, kinds
    return len(originals), len(mutants)


@pytest.fixture(scope="module")
def tool():
    path = tool_path()
    if path is None:
        pytest.fail("sigv4_verify_tool is not built: build the target sigv4_verify_tool "
                    "(set KEYWARD_BUILD_DIR to the build directory, default 'build')")
    return path


def test_botocore_signed_requests_verify_fixed_seed(tool):
    n, m = check_seed(tool, FIXED_SEED, FIXED_COUNT)
    assert n == FIXED_COUNT and m > 5 * FIXED_COUNT


@pytest.mark.parametrize("i", range(RANDOM_SEEDS))
def test_botocore_signed_requests_verify_random_seed(tool, i):
    seed = random.SystemRandom().randrange(2**32)
    print(f"seed {seed}")
    check_seed(tool, seed, RANDOM_COUNT)


if __name__ == "__main__":  # runs without pytest, e.g. with /usr/bin/python3's botocore
    t = tool_path()
    if t is None:
        raise SystemExit("sigv4_verify_tool is not built")
    print(botocore.__version__, check_seed(t, FIXED_SEED, FIXED_COUNT))
