"""Throw-away TLS material for tests: a CA, a server and a client certificate (openssl CLI).

Generated into a test's temporary directory, never committed. Tests that need it skip when
the openssl command is missing.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest


@dataclass(frozen=True)
class TlsFiles:
    """PEM files of one test CA and the certificates it signed."""

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    other_ca: Path  # a CA that signed nothing here: verification against it must fail


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60)


def _ca(d: Path, name: str) -> tuple[Path, Path]:
    crt, key = d / f"{name}.crt", d / f"{name}.key"
    _openssl(
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        "-keyout", str(key), "-out", str(crt), "-subj", f"/CN={name}",
    )  # fmt: skip
    return crt, key


def _signed(d: Path, name: str, ca: tuple[Path, Path], usage: str) -> tuple[Path, Path]:
    crt, key, csr, ext = (d / f"{name}.{x}" for x in ("crt", "key", "csr", "ext"))
    ext.write_text(
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n"
        f"keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage={usage}\n"
    )
    _openssl(
        "req", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(csr),
        "-subj", f"/CN={name}",
    )  # fmt: skip
    _openssl(
        "x509", "-req", "-in", str(csr), "-CA", str(ca[0]), "-CAkey", str(ca[1]),
        "-CAcreateserial", "-out", str(crt), "-days", "2", "-extfile", str(ext),
    )  # fmt: skip
    return crt, key


def make_tls_files(d: Path) -> TlsFiles:
    """A CA, a server certificate for localhost/127.0.0.1 and a client certificate."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is needed to make test certificates")
    d.mkdir(parents=True, exist_ok=True)
    ca = _ca(d, "test-ca")
    other, _ = _ca(d, "other-ca")
    server = _signed(d, "server", ca, "serverAuth")
    client = _signed(d, "client", ca, "clientAuth")
    return TlsFiles(ca[0], server[0], server[1], client[0], client[1], other)
