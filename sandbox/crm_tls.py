"""A self-signed TLS certificate for the sandbox CRM on 127.0.0.1.

Why TLS at all: the real clients insist on https (msal refuses a non-https authority and
simple-salesforce builds ``https://`` URLs), so the sandbox speaks https and the clients trust this
certificate through their ``ca_bundle`` setting, exactly as they would trust a corporate CA.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def ensure_certificate(folder: Path) -> tuple[Path, Path]:
    """Create (once) and return (cert.pem, key.pem) valid for 127.0.0.1 and localhost."""
    folder.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    if cert_path.exists() and key_path.exists():
        return cert_path, key_path
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kore-sandbox-crm")])
    now = dt.datetime.now(dt.UTC)
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(ski, critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    key_path.chmod(0o600)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert_path, key_path


def ensure_jwt_key(sandbox_dir: Path) -> Path:
    """Create (once) the RSA key pair of the sandbox Salesforce connected app's JWT bearer flow.

    In a real org the admin uploads the certificate and the integration keeps the private key
    (https://help.salesforce.com/apex/HTViewHelpDoc?id=xcloud.remoteaccess_oauth_jwt_flow.htm); here
    the sandbox writes both: ``crm_salesforce_jwt_key.pem`` (private, given to the client) and
    ``crm_salesforce_jwt_pub.pem`` (what the sandbox verifies assertions with)."""
    from cryptography.hazmat.primitives.asymmetric import rsa

    priv, pub = sandbox_dir / "crm_salesforce_jwt_key.pem", sandbox_dir / "crm_salesforce_jwt_pub.pem"
    if priv.exists() and pub.exists():
        return priv
    sandbox_dir.mkdir(parents=True, exist_ok=True)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    priv.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    priv.chmod(0o600)
    pub.write_bytes(
        key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return priv
