"""SNS as a subscriber meets it: signed messages, and an HTTPS host ``sns.eu-west-1.amazonaws.com`` serving the
signing certificate and answering ``SubscribeURL``.

The host is a local HTTPS server with a test certificate for that name (trusted through ``AWS_SNS_CA_BUNDLE``);
name resolution sends that one name to it, as ``curl --resolve`` would: a test-side redirect of DNS, the code
under test connects by name and verifies TLS as in production. Messages are signed at test time with an RSA key
whose certificate the server serves, following the documented algorithm (written out here independently of the
code under test): https://docs.aws.amazon.com/sns/latest/dg/sns-verify-signature-of-message.html
"""

from __future__ import annotations

import base64
import datetime
import json
import socket
import ssl
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from tests.tls import self_signed, self_signed_certificate

HOST = "sns.eu-west-1.amazonaws.com"
CERT_PATH = "/SimpleNotificationService-9c6465fa7f48f5cacd23014631ec1136.pem"
CERT_URL = f"https://{HOST}{CERT_PATH}"
TOPIC = "arn:aws:sns:eu-west-1:123456789012:cloudtrail-changes"


def signing_key(valid_until: datetime.datetime | None = None) -> tuple[rsa.RSAPrivateKey, bytes]:
    """An RSA key and its self-signed certificate (PEM), like SNS's signing certificate (valid for an hour, or
    from two hours before ``valid_until`` to then)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key, certificate_of(key, valid_until)


def certificate_of(key: rsa.RSAPrivateKey, valid_until: datetime.datetime | None = None) -> bytes:
    until = valid_until or datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=1)
    cert = self_signed(key, "sns.amazonaws.com", until - datetime.timedelta(hours=2), until).sign(key, hashes.SHA256())
    return cert.public_bytes(serialization.Encoding.PEM)


class FakeSns:
    """The HTTPS host: ``GET <CERT_PATH>`` → the certificate; ``GET /?Action=ConfirmSubscription`` → confirmed."""

    def __init__(self, directory: Path) -> None:
        self.key, self.certificate = signing_key()
        self.requests: list[str] = []
        self.confirmed = threading.Event()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802
                fake.requests.append(self.path)
                if self.path == CERT_PATH:
                    self._answer(200, fake.certificate, "application/x-x509-ca-cert")
                elif self.path.startswith("/?Action=ConfirmSubscription"):
                    fake.confirmed.set()
                    self._answer(200, b"<ConfirmSubscriptionResponse/>", "text/xml")
                else:
                    self._answer(404, b"<Error/>", "text/xml")

            def _answer(self, status: int, body: bytes, kind: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.ca, key = self_signed_certificate(directory, HOST, dns_names=(HOST,))
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.ca, key)
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def resolver(self, real: Any) -> Any:
        """``socket.getaddrinfo`` that answers ``HOST`` (port 443) with this server, every other name as usual."""

        def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
            if host == HOST:
                return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", self.port))]
            return real(host, port, *args, **kwargs)

        return getaddrinfo

    def message(
        self,
        kind: str,
        text: str,
        *,
        version: str = "1",
        topic: str = TOPIC,
        cert_url: str = CERT_URL,
        subject: str | None = None,
        key: rsa.RSAPrivateKey | None = None,
        subscribe_url: str = "",
    ) -> dict[str, Any]:
        """A signed SNS message of type ``kind`` carrying ``text``."""
        message: dict[str, Any] = {
            "Type": kind,
            "MessageId": str(uuid.uuid4()),
            "TopicArn": topic,
            "Message": text,
            "Timestamp": "2026-11-18T10:15:03.512Z",
            "SignatureVersion": version,
            "SigningCertURL": cert_url,
        }
        if kind == "Notification":
            if subject is not None:
                message["Subject"] = subject
            message["UnsubscribeURL"] = f"https://{HOST}/?Action=Unsubscribe&SubscriptionArn={topic}:0b4c"
            order = ["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"]
        else:
            message["Token"] = "2336412f37fb687f5d51e6e2425c464de12884ca"
            message["SubscribeURL"] = (
                subscribe_url or f"https://{HOST}/?Action=ConfirmSubscription&TopicArn={topic}&Token={message['Token']}"
            )
            order = ["Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"]
        signed = "".join(f"{name}\n{message[name]}\n" for name in order if name in message).encode()
        algorithm = hashes.SHA1() if version == "1" else hashes.SHA256()  # noqa: S303 - SNS's version 1
        signature = (key or self.key).sign(signed, padding.PKCS1v15(), algorithm)
        message["Signature"] = base64.b64encode(signature).decode()
        return message


def headers_of(message: dict[str, Any]) -> dict[str, str]:
    """The headers SNS sends with an HTTP/S delivery (text/plain, though the body is JSON)."""
    headers = {
        "Content-Type": "text/plain; charset=UTF-8",
        "x-amz-sns-message-type": message["Type"],
        "x-amz-sns-message-id": message["MessageId"],
        "x-amz-sns-topic-arn": message["TopicArn"],
        "User-Agent": "Amazon Simple Notification Service Agent",
    }
    if message["Type"] == "Notification":
        headers["x-amz-sns-subscription-arn"] = f"{message['TopicArn']}:0b4c2e1a-7f7c-4a52-9a8e-1f9b5d2c6e10"
    return headers


def body_of(message: dict[str, Any]) -> bytes:
    return json.dumps(message, indent=2).encode()
