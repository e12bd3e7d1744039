#!/usr/bin/env python3
"""Fakes of the third-party services the push tests (tests/push.rs) talk to,
in one process. Each one VERIFIES what it receives, the way the real service
would, and records it for the test to inspect:

- a Web Push service (POST /wp/<id>): checks the VAPID JWT signature against
  the VAPID public key it generated (and handed to the test for the server's
  config), that the header's k= is that key, that `aud` is this endpoint's
  origin, `exp` is at most 24 h ahead and `sub` is a mailto:/https: contact;
  then decrypts the aes128gcm body with the subscription's private key and
  auth secret (generated here for the test) and records the JSON payload;
- Google's OAuth2 token endpoint (POST /token): checks the JWT-bearer grant
  assertion's RS256 signature against the service-account key generated here,
  and its iss / aud / scope / iat / exp; issues an access token;
- the FCM HTTP v1 API (POST /v1/projects/<project>/messages:send): checks the
  project, `Authorization: Bearer <an issued token>` and the message body;
- an SMTP sink (aiosmtpd) that records every message.

Any verification failure is recorded in the request's `errors` and answered
with 400 (401 for a bad bearer token), as the real services would.
Scripted answers (POST /_control/script) let a test make the service answer
404, 410, 429 with Retry-After, or FCM's UNREGISTERED, after verification,
optionally after `delay_ms`.

The first line on stdout is JSON: ports, the VAPID key pair and the service
account key. With PUSH_FAKE_LOG=1 every record is also printed to stderr.
The process exits when stdin closes (the test that started it ended).

Needs: py_vapid, http_ece, cryptography, aiosmtpd (tests/fakes/requirements.txt).
"""

import base64
import email
import email.policy
import json
import os
import secrets
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import http_ece
import py_vapid
from aiosmtpd.controller import Controller
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

FCM_SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
PROJECT_ID = "tandem-fake-project"
CLIENT_EMAIL = "tandem-push@tandem-fake-project.iam.gserviceaccount.com"

LOCK = threading.Lock()
REQUESTS = []  # every request to a fake service, in arrival order
MAILS = []  # every message the SMTP sink accepted
SCRIPTS = {}  # key -> list of scripted answers, consumed in order
SUBSCRIPTIONS = {}  # web push subscription id -> (private key, auth secret)
ISSUED_TOKENS = set()
STATE = {}


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64u(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def log(record):
    if os.environ.get("PUSH_FAKE_LOG"):
        print(json.dumps(record, sort_keys=True), file=sys.stderr, flush=True)


def next_script(key):
    with LOCK:
        queue = SCRIPTS.get(key)
        if queue:
            return queue.pop(0)
    return None


def jwt_parts(token):
    """(header, claims, signing input, signature) of a compact JWT."""
    head_b64, claims_b64, sig_b64 = token.split(".")
    return (
        json.loads(unb64u(head_b64)),
        json.loads(unb64u(claims_b64)),
        f"{head_b64}.{claims_b64}".encode(),
        unb64u(sig_b64),
    )


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # keep stderr for JSON records
        pass

    def body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def answer(self, status, body=None, headers=None):
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, str(v))
        if body is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def finish_record(self, record, default_status, default_body, key):
        """Answers 400/401 when verification failed, else the next scripted
        answer for `key`, else the default; records what was answered."""
        if record["errors"]:
            status = 401 if record.get("auth_failed") else 400
            body, headers = {"error": {"message": "; ".join(record["errors"])}}, {}
        else:
            script = next_script(key)
            if script:
                time.sleep(script.get("delay_ms", 0) / 1000)
                status = script.get("status", default_status)
                body = script.get("body")
                headers = script.get("headers", {})
            else:
                status, body, headers = default_status, default_body, {}
        record["status"] = status
        with LOCK:
            REQUESTS.append(record)
        log(record)
        self.answer(status, body, headers)
        return body

    # -- routing -----------------------------------------------------------

    def do_GET(self):
        if self.path == "/_control/requests":
            with LOCK:
                return self.answer(200, {"requests": list(REQUESTS)})
        if self.path == "/_control/mails":
            with LOCK:
                return self.answer(200, {"mails": list(MAILS)})
        self.answer(404, {"error": "no such route"})

    def do_POST(self):
        arrived = time.time()
        body = self.body()
        if self.path == "/_control/webpush_subscription":
            return self.new_subscription()
        if self.path == "/_control/script":
            spec = json.loads(body)
            with LOCK:
                SCRIPTS.setdefault(spec["key"], []).extend(spec["responses"])
            return self.answer(204)
        if self.path.startswith("/wp/"):
            return self.web_push(body, arrived)
        if self.path == "/token":
            return self.token(body, arrived)
        prefix = f"/v1/projects/{PROJECT_ID}/messages:send"
        if self.path.startswith("/v1/projects/"):
            return self.fcm_send(body, arrived, self.path == prefix)
        self.answer(404, {"error": "no such route"})

    # -- control -----------------------------------------------------------

    def new_subscription(self):
        key = ec.generate_private_key(ec.SECP256R1())
        auth = secrets.token_bytes(16)
        sub_id = secrets.token_hex(8)
        with LOCK:
            SUBSCRIPTIONS[sub_id] = (key, auth)
        public = key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        self.answer(
            200,
            {
                "id": sub_id,
                "path": f"/wp/{sub_id}",
                "endpoint": f"{STATE['origin']}/wp/{sub_id}",
                "p256dh": b64u(public),
                "auth": b64u(auth),
            },
        )

    # -- Web Push ----------------------------------------------------------

    def web_push(self, body, arrived):
        errors = []
        record = {
            "kind": "webpush",
            "path": self.path,
            "time": arrived,
            "errors": errors,
            "ttl": self.headers.get("TTL"),
            "urgency": self.headers.get("Urgency"),
            "content_encoding": self.headers.get("Content-Encoding"),
            "claims": None,
            "payload": None,
        }
        sub = SUBSCRIPTIONS.get(self.path[len("/wp/"):])
        if sub is None:
            errors.append("unknown subscription")
        self.check_vapid(record, errors)
        if record["content_encoding"] != "aes128gcm":
            errors.append(f"Content-Encoding {record['content_encoding']!r}, not aes128gcm")
        if not (record["ttl"] or "").isdigit():
            errors.append(f"TTL header {record['ttl']!r} is not a number")
        if sub is not None and not errors:
            private_key, auth = sub
            try:
                plain = http_ece.decrypt(
                    body, private_key=private_key, auth_secret=auth, version="aes128gcm"
                )
                record["payload"] = json.loads(plain)
            except Exception as e:  # noqa: BLE001 - any failure is the finding
                errors.append(f"payload does not decrypt to JSON: {e!r}")
        self.finish_record(record, 201, None, self.path)

    def check_vapid(self, record, errors):
        auth = self.headers.get("Authorization") or ""
        scheme, _, params = auth.partition(" ")
        if scheme.lower() != "vapid":
            errors.append(f"Authorization is not `vapid t=..., k=...`: {auth[:40]!r}")
            return
        parts = {}
        for item in params.split(","):
            k, _, v = item.strip().partition("=")
            parts[k] = v
        token, key = parts.get("t", ""), parts.get("k", "")
        if unb64u(key) != unb64u(STATE["vapid_public"]):
            errors.append("k= is not the configured VAPID public key")
        # Verify against the key the server was configured with, not k=.
        try:
            valid = py_vapid.Vapid01.verify(STATE["vapid_public"], "vapid " + token)
        except Exception as e:  # noqa: BLE001
            errors.append(f"VAPID token unreadable: {e!r}")
            return
        if not valid:
            errors.append("VAPID signature does not verify")
        try:
            header, claims, _, _ = jwt_parts(token)
        except Exception as e:  # noqa: BLE001
            errors.append(f"VAPID JWT malformed: {e!r}")
            return
        record["claims"] = claims
        if header.get("alg") != "ES256":
            errors.append(f"VAPID alg {header.get('alg')!r}")
        if claims.get("aud") != STATE["origin"]:
            errors.append(f"aud {claims.get('aud')!r} is not {STATE['origin']!r}")
        exp = claims.get("exp")
        now = time.time()
        if not isinstance(exp, int) or not (now < exp <= now + 24 * 3600 + 60):
            errors.append(f"exp {exp!r} is not within 24 h")
        sub = claims.get("sub") or ""
        if not (sub.startswith("mailto:") or sub.startswith("https:")):
            errors.append(f"sub {sub!r} is not a mailto:/https: contact")

    # -- OAuth2 token endpoint ----------------------------------------------

    def token(self, body, arrived):
        errors = []
        record = {"kind": "token", "path": self.path, "time": arrived, "errors": errors}
        form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
        if form.get("grant_type") != JWT_BEARER:
            errors.append(f"grant_type {form.get('grant_type')!r}")
        try:
            header, claims, signing_input, signature = jwt_parts(form.get("assertion", ""))
            record["claims"] = claims
            STATE["sa_public"].verify(
                signature, signing_input, padding.PKCS1v15(), hashes.SHA256()
            )
            if header.get("alg") != "RS256":
                errors.append(f"alg {header.get('alg')!r}")
            if header.get("kid") != STATE["sa_key_id"]:
                errors.append(f"kid {header.get('kid')!r}")
            if claims.get("iss") != CLIENT_EMAIL:
                errors.append(f"iss {claims.get('iss')!r}")
            if claims.get("aud") != STATE["origin"] + "/token":
                errors.append(f"aud {claims.get('aud')!r}")
            if FCM_SCOPE not in (claims.get("scope") or "").split():
                errors.append(f"scope {claims.get('scope')!r}")
            iat, exp = claims.get("iat"), claims.get("exp")
            if not (isinstance(iat, int) and abs(iat - time.time()) < 120):
                errors.append(f"iat {iat!r}")
            elif not (isinstance(exp, int) and 0 < exp - iat <= 3600):
                errors.append(f"exp {exp!r}")
        except InvalidSignature:
            errors.append("assertion signature does not verify")
        except Exception as e:  # noqa: BLE001
            errors.append(f"assertion malformed: {e!r}")
        access = "fake-access-" + secrets.token_hex(12)
        # Known before the answer leaves: the server may send with it at
        # once, and that request can be handled on another thread before
        # this one gets past finish_record.
        with LOCK:
            ISSUED_TOKENS.add(access)
        answer = self.finish_record(
            record,
            200,
            {"access_token": access, "expires_in": 3600, "token_type": "Bearer"},
            "token",
        )
        if answer and answer.get("access_token"):
            with LOCK:
                ISSUED_TOKENS.add(answer["access_token"])

    # -- FCM HTTP v1 ----------------------------------------------------------

    def fcm_send(self, body, arrived, right_project):
        errors = []
        record = {"kind": "fcm", "path": self.path, "time": arrived, "errors": errors}
        if not right_project:
            errors.append(f"wrong project path {self.path!r}")
        auth = self.headers.get("Authorization") or ""
        bearer = auth[len("Bearer "):] if auth.startswith("Bearer ") else None
        record["bearer"] = bearer
        with LOCK:
            known = bearer in ISSUED_TOKENS
        if not known:
            errors.append("Authorization is not a bearer token this server issued")
            record["auth_failed"] = True
        try:
            message = json.loads(body)["message"]
            record["message"] = message
            if not message.get("token"):
                errors.append("message.token missing")
            if not (message.get("notification") or {}).get("title"):
                errors.append("message.notification.title missing")
            for k, v in (message.get("data") or {}).items():
                if not isinstance(v, str):
                    errors.append(f"data.{k} is not a string")
            if (message.get("android") or {}).get("priority") not in ("HIGH", "NORMAL"):
                errors.append("android.priority is not HIGH or NORMAL")
            key = "fcm:" + str(message.get("token"))
        except Exception as e:  # noqa: BLE001
            errors.append(f"body is not an FCM v1 message: {e!r}")
            key = "fcm:"
        self.finish_record(
            record, 200, {"name": f"projects/{PROJECT_ID}/messages/{secrets.token_hex(6)}"}, key
        )


class SmtpSink:
    async def handle_DATA(self, server, session, envelope):
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        body = msg.get_body(preferencelist=("plain",))
        record = {
            "kind": "mail",
            "time": time.time(),
            "mail_from": envelope.mail_from,
            "rcpt_tos": list(envelope.rcpt_tos),
            "from": str(msg["From"]),
            "to": str(msg["To"]),
            "subject": str(msg["Subject"]),
            "body": body.get_content() if body is not None else "",
        }
        with LOCK:
            MAILS.append(record)
        log(record)
        return "250 Message accepted for delivery"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def vapid_pair():
    vapid = py_vapid.Vapid01()
    vapid.generate_keys()
    private = b64u(vapid.private_key.private_numbers().private_value.to_bytes(32, "big"))
    public = b64u(
        vapid.public_key.public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
    )
    return private, public


def service_account(key, key_id):
    return {
        "type": "service_account",
        "project_id": PROJECT_ID,
        "private_key_id": key_id,
        "private_key": key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode(),
        "client_email": CLIENT_EMAIL,
        "client_id": "1234567890",
        "token_uri": STATE["origin"] + "/token",
    }


def main():
    vapid_private, vapid_public = vapid_pair()
    decoy_vapid_private, decoy_vapid_public = vapid_pair()
    sa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    decoy_sa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    STATE["sa_public"] = sa_key.public_key()
    STATE["sa_key_id"] = secrets.token_hex(20)
    STATE["vapid_public"] = vapid_public

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    port = server.server_address[1]
    STATE["origin"] = f"http://127.0.0.1:{port}"
    threading.Thread(target=server.serve_forever, daemon=True).start()

    smtp_port = free_port()
    smtp = Controller(SmtpSink(), hostname="127.0.0.1", port=smtp_port)
    smtp.start()

    print(
        json.dumps(
            {
                "http_port": port,
                "smtp_port": smtp_port,
                "vapid_private_key": vapid_private,
                "vapid_public_key": vapid_public,
                "service_account": service_account(sa_key, STATE["sa_key_id"]),
                # Keys the fakes do NOT trust, to show they refuse them.
                "decoy": {
                    "vapid_private_key": decoy_vapid_private,
                    "vapid_public_key": decoy_vapid_public,
                    "service_account": service_account(decoy_sa_key, STATE["sa_key_id"]),
                },
            }
        ),
        flush=True,
    )
    # Live as long as the test: it holds our stdin open.
    try:
        sys.stdin.read()
    finally:
        smtp.stop()
        os._exit(0)


if __name__ == "__main__":
    main()
