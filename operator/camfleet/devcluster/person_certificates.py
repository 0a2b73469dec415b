"""Client certificates for people of a local cluster, signed by its own CA (CN: the user, O: each group), as a
cluster's administrator issues them for kubeconfigs. The tests and benchmarks use them for real people: the API
server and the operator's PTZ API (which trusts the cluster's client CA) both know them by these certificates."""

from __future__ import annotations

import datetime as dt
import warnings
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


def person_certificate(pki: Path, user: str, groups: list[str], hours: float = 2) -> tuple[bytes, bytes]:
    """A client certificate (PEM) for `user` in `groups` signed by the CA in `pki` (ca.crt, ca.key), and its key."""
    with warnings.catch_warnings():  # kwok's CA has a serial number cryptography frowns on; only its name is used
        warnings.simplefilter("ignore")
        ca_cert = x509.load_pem_x509_certificate((pki / "ca.crt").read_bytes())
    ca_key = serialization.load_pem_private_key((pki / "ca.key").read_bytes(), password=None)
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name(
        [x509.NameAttribute(NameOID.ORGANIZATION_NAME, g) for g in groups]
        + [x509.NameAttribute(NameOID.COMMON_NAME, user)]
    )
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=hours))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())  # type: ignore[arg-type]
    )
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return cert.public_bytes(serialization.Encoding.PEM), pem


def write_person_files(folder: Path, name: str, cert: bytes, key: bytes) -> tuple[Path, Path]:
    """The certificate and key as files (the key readable by its owner only), for `SSLContext.load_cert_chain`."""
    folder.mkdir(parents=True, exist_ok=True)
    cert_file, key_file = folder / f"{name}.crt", folder / f"{name}.key"
    cert_file.write_bytes(cert)
    key_file.touch(mode=0o600)
    key_file.write_bytes(key)
    return cert_file, key_file
