"""The one settings object (env prefix ``KUCHIKOMI_``, nested groups with ``__``).

Every package reads configuration through :func:`get_settings`; no module reads ``os.environ``
on its own. Tests call ``get_settings.cache_clear()`` after changing the environment.

A leaf: this package imports nothing of the project, so that every layer may import it
(docs/architecture.md#why-settings-are-a-package-of-their-own).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class CrawlSettings(BaseModel):
    """Politeness and limits for the Scrapy crawler (not optional: docs/operations.md)."""

    user_agent: str = (
        "kuchikomi-guard/0.1 (+https://github.com/kuchikomi-guard/kuchikomi-guard; "
        "clinic review monitoring)"
    )
    # At least one second between requests to one site; tests and the local demo lower this.
    download_delay: float = Field(default=1.0, ge=0.0)
    autothrottle: bool = True
    timeout: float = Field(default=30.0, gt=0.0)
    retry_times: int = Field(default=2, ge=0)
    max_pages_per_listing: int = Field(default=200, ge=1)
    # Largest response body accepted; anything bigger is refused as hostile or broken.
    max_response_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    obey_robots_txt: bool = True
    # Scrapyd nodes to run the crawl on, comma-separated (http://host:6800,…); empty: this
    # machine runs it. docs/production.md#scrapyd
    scrapyd_urls: str = ""
    # Seconds between two looks at the Scrapyd jobs while a run waits for them.
    scrapyd_poll_seconds: float = Field(default=5.0, gt=0.0)
    # Hours a nightly run may take; with download_delay this gives each site's page budget per
    # night (docs/production.md#budget).
    window_hours: float = Field(default=8.0, gt=0.0, le=24.0)
    # Every listing is crawled at least this often: when a site has more pages than fit in a
    # night, a run takes its stalest listings first and leaves the rest for the next nights.
    max_staleness_days: int = Field(default=7, ge=1)

    @property
    def scrapyd_nodes(self) -> list[str]:
        return [url.strip().rstrip("/") for url in self.scrapyd_urls.split(",") if url.strip()]


class PasswordHashSettings(BaseModel):
    """Cost of the argon2id password hashes (``KUCHIKOMI_PASSWORD_HASH__TIME_COST`` and so on).

    The defaults are argon2-cffi's: RFC 9106's low-memory profile (t=3, 64 MiB, p=4). Keep them
    in production. The test suite lowers them (tests/conftest.py) so that logins are cheap; a
    hash verifies whatever cost it was made with, and one made at another cost than the current
    one is redone at the current cost at the next successful login.
    """

    time_cost: int = Field(default=3, ge=1)
    # KiB; argon2 needs at least 8 KiB per lane.
    memory_cost: int = Field(default=65536, ge=8)
    parallelism: int = Field(default=4, ge=1)

    @model_validator(mode="after")
    def _enough_memory_per_lane(self) -> PasswordHashSettings:
        if self.memory_cost < 8 * self.parallelism:
            raise ValueError("memory_cost must be at least 8 KiB per lane (8 * parallelism)")
        return self


class SchedulerSettings(BaseModel):
    """When the nightly crawl runs (cron fields, interpreted in ``timezone``)."""

    cron: str = "0 2 * * *"
    timezone: str = "Asia/Tokyo"
    misfire_grace_seconds: int = Field(default=3600, ge=1)
    # On this day (in ``timezone``) the scheduled crawl is a full sweep: every page, which is
    # what records removed reviews and catches up listings that stopped early. "sun".."sat",
    # or crontab numbers 0-7 (0 and 7 = Sunday); empty turns the weekly sweep off.
    full_sweep_weekday: str = "sun"


class ClassifierSettings(BaseModel):
    # Empty: the active model in data_dir/models (`kuchikomi model train` activates the one it
    # trains; `kuchikomi model activate` picks another). No model ships with the package.
    model_path: Path | None = None
    # The share of harmful reviews among real ones, which a newly trained model's probabilities
    # are calibrated for (the training corpus is about half attacks; a review queue holds a few
    # per cent). Takes effect at the next `kuchikomi model train`.
    harmful_prior: float = Field(default=0.03, gt=0.0, lt=1.0)
    # Processes that re-classify stored reviews (`model train`, `model activate`); empty: one
    # per available core.
    workers: int | None = Field(default=None, ge=1)


class NotifySettings(BaseModel):
    """Outgoing notifications after each crawl: the SMTP relay and webhook defaults.

    Subscriptions (who gets what) live in the database (``kuchikomi notify add``); this only says
    how to reach the mail relay. ``KUCHIKOMI_NOTIFY__SMTP_HOST`` and so on.
    """

    smtp_host: str = "localhost"
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    # "starttls" upgrades a plain connection; "ssl" is implicit TLS (port 465); "none" for a
    # relay on the same host.
    smtp_security: Literal["none", "starttls", "ssl"] = "none"
    smtp_timeout: float = Field(default=10.0, gt=0.0)
    mail_from: str = "kuchikomi-guard@localhost"
    webhook_timeout: float = Field(default=10.0, gt=0.0)
    # When set, webhook bodies are signed: X-Kuchikomi-Signature: sha256=<hex HMAC of the body>.
    webhook_secret: SecretStr | None = None
    # Public address of the web UI, used for links in messages (e.g. https://guard.example.jp).
    base_url: str | None = None
    # At most this many reviews/bursts are listed in one message; the rest are counted.
    max_items: int = Field(default=50, ge=1, le=1000)


class DeadlineSettings(BaseModel):
    """Deadlines of a takedown case (docs/domain.md)."""

    # Connection providers keep access logs about 3–6 months (mobile carriers about 3), so a
    # 発信者情報開示 request should start well before post date + this many months.
    disclosure_months: int = Field(default=3, ge=1, le=24)
    # A provider may delete when the poster does not object within 7 days of being asked.
    follow_up_days: int = Field(default=7, ge=1, le=90)
    # The deadlines page lists what falls due within this many days (and everything overdue).
    due_soon_days: int = Field(default=14, ge=1, le=365)


class GoogleSettings(BaseModel):
    """The Google Business Profile connection: the operator's (or clinic's) own OAuth client.

    The API bases default to Google's; tests and the demo point them at a local fake.
    """

    client_id: str | None = None
    client_secret: SecretStr | None = None
    auth_uri: str = "https://accounts.google.com/o/oauth2/auth"
    token_uri: str = "https://oauth2.googleapis.com/token"
    # Business Profile API v4 (reviews).
    api_base: str = "https://mybusiness.googleapis.com"
    # Account Management API (GET /v1/accounts).
    account_api_base: str = "https://mybusinessaccountmanagement.googleapis.com"
    # Business Information API (GET /v1/accounts/{a}/locations).
    business_info_api_base: str = "https://mybusinessbusinessinformation.googleapis.com"
    timeout: float = Field(default=30.0, gt=0.0)
    # Google answers 429 (quota) and 5xx with a Retry-After; a listing waits at most this long in
    # total, over at most max_retries retries, before it is failed and the crawl moves on.
    max_retries: int = Field(default=4, ge=0, le=20)
    max_retry_wait: float = Field(default=120.0, ge=0.0)


class EvidenceSettings(BaseModel):
    """Evidence bundles (docs/domain.md#evidence): the signing key and the browser that renders
    archived pages. ``KUCHIKOMI_EVIDENCE__CHROMIUM`` and so on."""

    # Empty: data_dir/keys/evidence-signing-ed25519.pem, created on first use.
    signing_key: Path | None = None
    # Chromium (or Chrome) that renders the archived page into the bundle's PDF and PNG. Empty:
    # the first of chromium, chromium-browser, google-chrome on PATH. A path that does not exist
    # makes bundles without renderings, which their manifest and report say.
    chromium: Path | None = None
    # Seconds for Chromium to start, and for each archived page to load and print.
    render_timeout: float = Field(default=30.0, gt=0.0)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="KUCHIKOMI_",
        env_nested_delimiter="__",
        env_file=".env",
        extra="ignore",
    )

    database_url: str = "sqlite:///./var/kuchikomi.db"
    data_dir: Path = Path("./var")
    # Listing URLs that resolve to loopback/private addresses are refused unless this is true.
    allow_private_hosts: bool = False
    # Encrypts secrets stored in the database (Google refresh tokens). Required once one is stored.
    secret_key: SecretStr | None = None

    crawl: CrawlSettings = CrawlSettings()
    password_hash: PasswordHashSettings = PasswordHashSettings()
    scheduler: SchedulerSettings = SchedulerSettings()
    classifier: ClassifierSettings = ClassifierSettings()
    deadlines: DeadlineSettings = DeadlineSettings()
    notify: NotifySettings = NotifySettings()
    google: GoogleSettings = GoogleSettings()
    evidence: EvidenceSettings = EvidenceSettings()

    @property
    def warc_dir(self) -> Path:
        return self.data_dir / "warc"

    @property
    def model_dir(self) -> Path:
        return self.data_dir / "models"


@lru_cache
def get_settings() -> Settings:
    return Settings()
