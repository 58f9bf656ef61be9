"""Sandbox app provisioning: fresh ids and two fresh RSA-2048 key pairs per app.

Like the real open platform in public-key mode, every app has its own key pair (the merchant keeps the
private key, the gateway holds the public key) and the gateway signs its answers and notifies for that
app with a key pair of its own, whose public half is handed to the merchant as ``alipay_public_key``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from cryptography.hazmat.primitives.asymmetric import rsa

from indiepay.channels.alipay import signing
from indiepay.sandbox.alipay.store import App
from indiepay.sandbox.alipay.trades import now_utc, random_digits


@dataclass(frozen=True)
class ProvisionedApp:
    app: App
    credentials: dict[str, str]


def new_app() -> ProvisionedApp:
    """Generate an app (``2021`` + 12 digits), a seller PID (``2088`` + 12 digits) and both key pairs."""
    app_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    gateway_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    app = App(
        app_id="2021" + random_digits(12),
        seller_id="2088" + random_digits(12),
        app_public_key=signing.public_key_pem(app_key.public_key()),
        alipay_private_key=signing.private_key_pem(gateway_key),
        alipay_public_key=signing.public_key_pem(gateway_key.public_key()),
        created_at=now_utc().isoformat(),
    )
    credentials = {
        "app_id": app.app_id,
        "seller_id": app.seller_id,
        "app_private_key": signing.private_key_pem(app_key),
        "alipay_public_key": app.alipay_public_key,
    }
    return ProvisionedApp(app=app, credentials=credentials)


def rotate_app(app: App, *, app_key: bool, alipay_key: bool) -> ProvisionedApp:
    """What the open platform does when the merchant resets the app's key pair: a new app key (the old one
    stops verifying at once — the gateway holds one app public key) and, with it, a new Alipay key pair
    for the app. Notifies already signed keep their signature on every resend (they are signed once), so
    a receiver must still accept the old Alipay public key for them. ``credentials`` holds only the
    changed fields."""
    changed: dict[str, str] = {}
    if app_key:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        app = replace(app, app_public_key=signing.public_key_pem(key.public_key()))
        changed["app_private_key"] = signing.private_key_pem(key)
    if alipay_key:
        gateway_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        app = replace(app, alipay_private_key=signing.private_key_pem(gateway_key),
                      alipay_public_key=signing.public_key_pem(gateway_key.public_key()))
        changed["alipay_public_key"] = app.alipay_public_key
    return ProvisionedApp(app=app, credentials=changed)
