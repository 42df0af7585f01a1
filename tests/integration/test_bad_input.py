"""Malformed requests get the AWS error the model names, and never take the server down."""
import datetime
import http.client
import socket
import time
import urllib.parse

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials


def send(server, body, service="iam", headers=None, sign=True, key=None, secret=None,
         mutate=None):
    """POSTs `body`, signed by botocore unless told otherwise; returns (status, text)."""
    url = server.endpoint + "/"
    req = AWSRequest(method="POST", url=url, data=body,
                     headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
                              **(headers or {})})
    if sign:
        SigV4Auth(Credentials(key or server.admin_key, secret or server.admin_secret),
                  service, "us-east-1").add_auth(req)
    hdrs = dict(req.headers.items())
    if mutate:
        mutate(hdrs)
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.request("POST", "/", body=body, headers=hdrs)
    resp = conn.getresponse()
    text = resp.read().decode(errors="replace")
    conn.close()
    return resp.status, text


def code_of(text):
    start = text.find("<Code>")
    return text[start + 6:text.find("</Code>")] if start >= 0 else None


def test_unknown_action(server):
    status, text = send(server, "Action=DoSomethingOdd&Version=2010-05-08")
    assert status == 400 and code_of(text) == "InvalidAction"


def test_missing_parameter(server):
    status, text = send(server, "Action=CreateUser&Version=2010-05-08")
    assert status == 400 and code_of(text) in ("MissingParameter", "ValidationError")
    assert "UserName" in text


def test_wrong_typed_parameter(server):
    status, text = send(server, "Action=ListUsers&Version=2010-05-08&MaxItems=lots")
    assert status == 400 and code_of(text) == "ValidationError"


def test_bad_percent_encoding(server):
    status, text = send(server, "Action=ListUsers&Version=2010-05-08&PathPrefix=%zz")
    assert status in (400, 404) and code_of(text) in ("MalformedQueryString", "ValidationError")


def test_unsigned_request(server):
    status, text = send(server, "Action=ListUsers&Version=2010-05-08", sign=False)
    assert status == 403 and code_of(text) == "MissingAuthenticationToken"


def test_garbled_authorization_header(server):
    def garble(h):
        h["Authorization"] = "AWS4-HMAC-SHA256 Credential=AKIA/2015"
    status, text = send(server, "Action=ListUsers&Version=2010-05-08", mutate=garble)
    assert status == 400 and code_of(text) == "IncompleteSignature"


def test_wrong_secret(server):
    status, text = send(server, "Action=ListUsers&Version=2010-05-08", secret="x" * 40)
    assert status == 403 and code_of(text) == "SignatureDoesNotMatch"


def test_unknown_access_key(server):
    status, text = send(server, "Action=ListUsers&Version=2010-05-08",
                        key="AKIAAAAAAAAAAAAAAAAA")
    assert status == 403 and code_of(text) == "InvalidClientTokenId"


def signed_at(server, body, when):
    """Sends `body` signed by botocore as if the clock read `when`."""
    import botocore.auth

    class Shifted(datetime.datetime):
        @classmethod
        def utcnow(cls):
            return when

    real = botocore.auth.datetime.datetime
    botocore.auth.datetime.datetime = Shifted
    try:
        req = AWSRequest(method="POST", url=server.endpoint + "/", data=body,
                         headers={"Content-Type": "application/x-www-form-urlencoded"})
        SigV4Auth(Credentials(server.admin_key, server.admin_secret), "iam",
                  "us-east-1").add_auth(req)
    finally:
        botocore.auth.datetime.datetime = real
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.request("POST", "/", body=body, headers=dict(req.headers.items()))
    resp = conn.getresponse()
    return resp.status, resp.read().decode()


def test_skewed_date_is_refused_both_ways(server):
    body = "Action=ListUsers&Version=2010-05-08"
    now = datetime.datetime.utcnow()
    status, text = signed_at(server, body, now - datetime.timedelta(minutes=20))
    assert status == 403 and code_of(text) == "SignatureDoesNotMatch"
    assert "Signature expired" in text
    status, text = signed_at(server, body, now + datetime.timedelta(minutes=20))
    assert status == 403 and code_of(text) == "SignatureDoesNotMatch"
    status, text = signed_at(server, body, now - datetime.timedelta(minutes=10))
    assert status == 200, text


def test_tampered_body_is_refused(server):
    body = "Action=ListUsers&Version=2010-05-08"
    req = AWSRequest(method="POST", url=server.endpoint + "/", data=body,
                     headers={"Content-Type": "application/x-www-form-urlencoded"})
    SigV4Auth(Credentials(server.admin_key, server.admin_secret), "iam", "us-east-1").add_auth(req)
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.request("POST", "/", body=body.replace("ListUsers", "ListRoles"),
                 headers=dict(req.headers.items()))
    resp = conn.getresponse()
    assert resp.status == 403 and code_of(resp.read().decode()) == "SignatureDoesNotMatch"


def test_oversized_body_is_refused_and_server_lives(server, iam):
    body = "Action=ListUsers&Version=2010-05-08&Pad=" + "a" * (2 << 20)
    try:
        status, _ = send(server, body, sign=False)
        assert status == 413
    except (ConnectionError, http.client.HTTPException):
        pass  # the server may close before reading it all; either way it must live on
    assert "Users" in iam.list_users()


def test_slow_client_does_not_block_others(server, iam):
    s = socket.create_connection(("127.0.0.1", server.port))
    s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\n")  # and never finishes the headers
    try:
        start = time.time()
        assert "Users" in iam.list_users()
        assert time.time() - start < 5
    finally:
        s.close()


def test_garbage_bytes_get_400_and_server_lives(server, iam):
    s = socket.create_connection(("127.0.0.1", server.port))
    s.sendall(b"\x00\x01\x02 NOT HTTP\r\n\r\n")
    s.settimeout(5)
    data = s.recv(1024)
    s.close()
    assert data.startswith(b"HTTP/1.1 400") or data == b""
    assert "Users" in iam.list_users()


def test_sts_errors_carry_the_sts_namespace(server):
    status, text = send(server, "Action=DoSomethingOdd&Version=2011-06-15", service="sts")
    assert status == 400 and code_of(text) == "InvalidAction"
    assert '<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">' in text
