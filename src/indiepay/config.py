"""Settings: one object, read once from ``INDIEPAY_*`` environment variables and passed in explicitly."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every knob of a running IndiePay; see the configuration table in README.md."""

    model_config = SettingsConfigDict(env_prefix="INDIEPAY_", extra="ignore")

    database_url: str = "sqlite:///./var/indiepay.db"
    # full: a commit is on the disk when it returns (a power cut loses nothing); normal: faster, but an OS
    # crash or a power cut may take back the last commits — only on a disk that cannot lose what it acknowledged
    sqlite_synchronous: Literal["full", "normal"] = "full"
    var_dir: Path = Path("./var")
    admin_key: str | None = None
    master_key: str | None = None
    master_key_file: Path | None = None
    retired_master_keys: str | None = None  # comma-separated old KEKs: open and re-wrap, never seal
    host: str = "127.0.0.1"
    port: int = 8000
    public_url: str | None = None
    mount_sandbox: bool = True
    sandbox_url: str | None = None
    sandbox_time_factor: float = 1.0
    sandbox_state_path: Path | None = None
    run_worker: bool = True
    worker_poll_seconds: float = 0.5
    channel_timeout_seconds: float = 10.0
    default_expires_in_seconds: int = 2 * 60 * 60
    webhook_timeout_seconds: float = 10.0  # one webhook delivery's whole budget: connect, send, answer
    log_level: str = "info"
    # how long credentials replaced by a rotation still verify callbacks unless the new ones are verified
    # sooner: WeChat Pay resends a callback for ~24 h and Alipay a notify for ~25 h, each as first built
    # (encrypted/signed under the old keys), so 72 h covers a full resend cycle plus a weekend
    credential_grace_hours: int = Field(default=72, ge=1, le=24 * 30)
    retention_live_window_months: int = 13  # records older than this may be archived (never deleted)
    # collection limits by subject type, in fen (a merchant may have its own, set by the operator)
    individual_single_limit: int = Field(default=1_000_000, gt=0)  # ¥10,000 per payment
    individual_daily_limit: int = Field(default=5_000_000, gt=0, le=20_000_000)  # ¥50,000 a day, at most ¥200,000
    enterprise_single_limit: int = Field(default=10_000_000, gt=0)  # ¥100,000 per payment
    enterprise_daily_limit: int = Field(default=100_000_000, gt=0)  # ¥1,000,000 a day
    risk_shadow: bool = False  # every risk rule in shadow mode: decisions recorded, nothing blocked or reviewed
    # alert delivery (see docs/OPERATIONS.md "Alerts and their delivery")
    smtp_host: str | None = None  # unset: e-mail deliveries are recorded as failed ("e-mail is not configured")
    smtp_port: int = Field(default=25, gt=0, lt=65536)
    smtp_from: str = "IndiePay alerts <alerts@localhost>"
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = False  # upgrade a plain connection with STARTTLS (port 587)
    smtp_ssl: bool = False  # implicit TLS from the first byte (port 465)
    smtp_timeout_seconds: float = 10.0
    sms_provider: str = "sandbox"  # sandbox (messages kept in sandbox_sms_messages) | none
    operator_alert_emails: str | None = None  # comma-separated; alerts that concern no merchant go here
    operator_alert_phones: str | None = None  # comma-separated, E.164 (+8613800138000)
    operator_alert_webhook_url: str | None = None
    operator_alert_webhook_secret: str | None = None  # signs operator alert webhooks; required with the URL
    alert_rate_limit: int = Field(default=10, ge=1)  # alerts delivered per (merchant, kind) per window
    # the largest request body a route takes (413 body_too_large beyond): every JSON call, form and callback,
    # and the bill upload (a plain WeChat Pay trade bill is ~230 MB a million rows; gzip ~16 MB)
    max_body_bytes: int = Field(default=1024 * 1024, ge=64 * 1024)
    # which merchant webhooks may reach private addresses (loopback, internal, the metadata service): test-mode
    # endpoints only (a developer's local receiver; the default), none (production), all (a closed network);
    # see indiepay.core.outbound
    outbound_private_targets: Literal["test", "none", "all"] = "test"
    max_bill_upload_bytes: int = Field(default=512 * 1024 * 1024, ge=1024 * 1024)
    alert_rate_window_seconds: int = Field(default=3600, ge=60)

    @property
    def base_url(self) -> str:
        """The address the channels and buyers reach this server on."""
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    @property
    def sandbox_base_url(self) -> str:
        """Where the sandbox gateways answer (mounted under ``/sandbox`` unless told otherwise)."""
        return (self.sandbox_url or f"{self.base_url}/sandbox").rstrip("/")

    @property
    def resolved_master_key_file(self) -> Path:
        return self.master_key_file or self.var_dir / "master.key"
