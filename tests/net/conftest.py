"""A small HTTP(S) server on 127.0.0.1 with the answers a photo URL can give: a photo, redirects,
a huge body, a web page, a slow drip, an error status. It records every request's Host header.
"""

from __future__ import annotations

import datetime
import io
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from PIL import Image


def _jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (32, 24), (200, 120, 80)).save(buffer, format="JPEG")
    return buffer.getvalue()


JPEG = _jpeg()


@dataclass
class Seen:
    path: str
    host: str | None
    client: str


@dataclass
class PhotoServer:
    scheme: str = "http"
    seen: list[Seen] = field(default_factory=list)
    sni: list[str | None] = field(default_factory=list)
    port: int = 0
    # Where /to-loopback2 sends the client (a second loopback address, to test per-hop checks).
    redirect_elsewhere: str = ""

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"{self.scheme}://{host}:{self.port}{path}"

    @property
    def hosts(self) -> list[str | None]:
        return [s.host for s in self.seen]


def _handler(server: PhotoServer):
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's naming)
            server.seen.append(Seen(self.path, self.headers.get("Host"), self.client_address[0]))
            path = self.path
            if path == "/photo.jpg":
                return self._send(200, JPEG, "image/jpeg")
            if path == "/photo-as-html":
                # The server's content type does not matter: the bytes do.
                return self._send(200, JPEG, "text/html")
            if path.startswith("/redirect/"):
                left = int(path.rsplit("/", 1)[1])
                return self._redirect("/photo.jpg" if left == 0 else f"/redirect/{left - 1}")
            if path == "/absolute-redirect":
                return self._redirect(server.url("/photo.jpg"))
            if path == "/to-file":
                return self._redirect("file:///etc/passwd")
            if path == "/to-loopback2":
                return self._redirect(server.redirect_elsewhere)
            if path == "/page.html":
                return self._send(200, b"<!doctype html><html><body>not a photo</body></html>" * 10, "text/html")
            if path == "/empty":
                return self._send(200, b"", "image/jpeg")
            if path == "/missing":
                return self._send(404, b"no", "text/plain")
            if path == "/huge-announced":
                self.send_response(200)
                self.send_header("Content-Type", "image/jpeg")
                self.send_header("Content-Length", str(50 * 1024 * 1024))
                self.end_headers()
                self._write_for(JPEG + b"\0" * 65536, seconds=0)
                return None
            if path == "/huge-unannounced":
                # No Content-Length: the body ends when the connection closes (HTTP/1.0).
                self.send_response(200)
                self.send_header("Content-Type", "image/jpeg")
                self.end_headers()
                self._write_for(JPEG, seconds=0)
                for _ in range(50 * 16):
                    if not self._write_for(b"\0" * 65536, seconds=0):
                        break
                return None
            if path == "/slow":
                self.send_response(200)
                self.send_header("Content-Type", "image/jpeg")
                self.send_header("Content-Length", str(len(JPEG)))
                self.end_headers()
                for byte in JPEG:
                    if not self._write_for(bytes([byte]), seconds=0.2):
                        break
                return None
            if path == "/silent":
                time.sleep(3)
                return self._send(200, JPEG, "image/jpeg")
            return self._send(404, b"", "text/plain")

        def _write_for(self, data: bytes, seconds: float) -> bool:
            try:
                self.wfile.write(data)
                self.wfile.flush()
            except OSError:
                return False  # the client hung up, as it should past a limit
            time.sleep(seconds)
            return True

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self._write_for(body, seconds=0)

        def _redirect(self, location: str) -> None:
            self.send_response(302)
            self.send_header("Location", location)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    return Handler


def _serve(server: PhotoServer, tls: ssl.SSLContext | None = None) -> Iterator[PhotoServer]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(server))
    httpd.daemon_threads = True
    if tls is not None:
        httpd.socket = tls.wrap_socket(httpd.socket, server_side=True)
    server.port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
def photo_server() -> Iterator[PhotoServer]:
    yield from _serve(PhotoServer())


# -- TLS: a throwaway CA and a certificate for a made-up name ------------------------------------

TLS_NAME = "photos.example.test"


@dataclass
class Pki:
    ca_pem: bytes
    cert_file: Path
    key_file: Path

    def client_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cadata=self.ca_pem.decode("ascii"))
        return context


@pytest.fixture(scope="session")
def pki(tmp_path_factory) -> Pki:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "lookalike test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, TLS_NAME)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(TLS_NAME)]), critical=False)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("pki")
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return Pki(ca.public_bytes(serialization.Encoding.PEM), cert_file, key_file)


@pytest.fixture
def tls_photo_server(pki) -> Iterator[PhotoServer]:
    server = PhotoServer(scheme="https")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki.cert_file, pki.key_file)

    def remember_sni(_sock, name, _context):
        server.sni.append(name)

    context.sni_callback = remember_sni
    yield from _serve(server, tls=context)
