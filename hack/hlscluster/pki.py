"""Cluster PKI with the openssl CLI: a CA, leaf certificates, the service-account key pair."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

from .certs import CERTS, CertSpec

DAYS = "3650"


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def _new_key(path: Path) -> None:
    _openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", str(path))
    path.chmod(0o600)


def ensure_ca(pki: Path) -> None:
    key, crt = pki / "ca.key", pki / "ca.crt"
    if key.exists() and crt.exists():
        return
    _new_key(key)
    _openssl(
        "req", "-x509", "-new", "-key", str(key), "-sha256", "-days", DAYS,
        "-subj", "/CN=hlsforge-local-ca", "-out", str(crt),
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign,digitalSignature",
    )  # fmt: skip


def ensure_leaf(pki: Path, spec: CertSpec) -> None:
    key, crt = pki / f"{spec.name}.key", pki / f"{spec.name}.crt"
    if key.exists() and crt.exists():
        return
    _new_key(key)
    with tempfile.TemporaryDirectory() as tmp:
        csr, ext = Path(tmp) / "req.csr", Path(tmp) / "ext.cnf"
        ext.write_text(spec.extensions())
        _openssl("req", "-new", "-key", str(key), "-subj", spec.subject(), "-out", str(csr))
        _openssl(
            "x509", "-req", "-in", str(csr), "-CA", str(pki / "ca.crt"),
            "-CAkey", str(pki / "ca.key"), "-CAcreateserial", "-sha256", "-days", DAYS,
            "-extfile", str(ext), "-out", str(crt),
        )  # fmt: skip


def ensure_service_account_keys(pki: Path) -> None:
    key, pub = pki / "sa.key", pki / "sa.pub"
    if key.exists() and pub.exists():
        return
    _new_key(key)
    _openssl("pkey", "-in", str(key), "-pubout", "-out", str(pub))


def ensure_pki(pki: Path) -> None:
    pki.mkdir(parents=True, exist_ok=True)
    pki.chmod(0o700)
    ensure_ca(pki)
    for spec in CERTS:
        ensure_leaf(pki, spec)
    ensure_service_account_keys(pki)
