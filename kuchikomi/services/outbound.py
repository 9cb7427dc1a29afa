"""HTTP requests to addresses a person typed in (notification webhooks): public addresses only.

The crawler's address guard (``crawler/urls.py``, docs/architecture.md) applied to httpx, so that
a webhook cannot be aimed at the machine itself, the internal network or a cloud metadata
endpoint (``http://169.254.169.254/``):

- when a webhook is subscribed, a literal loopback/private address (or ``localhost``) is refused,
  and so is a host name that resolves to one;
- when it is posted to, every address the name resolves to must be public, and the connection is
  made to one of those checked addresses (the name is not resolved a second time, so an answer
  that changes in between — DNS rebinding — cannot reach a private address);
- redirects are never followed: a webhook that answers 3xx is a failed delivery.

``KUCHIKOMI_ALLOW_PRIVATE_HOSTS=true`` turns the guard off, as it does for crawls (the demo and the
tests post to 127.0.0.1).
"""

from __future__ import annotations

import httpx

from crawler.urls import (
    UnresolvableHostError,
    UnsafeURLError,
    normalize_listing_url,
    public_addresses,
)


class PublicAddressTransport(httpx.HTTPTransport):
    """Sends each request to a checked public address of its host, keeping the host name in
    the ``Host`` header and, over TLS, in SNI and certificate verification."""

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        host = request.url.host
        address = public_addresses(str(request.url))[0]
        request.url = request.url.copy_with(host=address)
        if request.url.scheme == "https":
            request.extensions = {**request.extensions, "sni_hostname": host}
        return super().handle_request(request)


def guarded_client(*, timeout: float, allow_private_hosts: bool) -> httpx.Client:
    """An httpx client that never follows redirects and, unless private hosts are allowed,
    connects only to public addresses. Refusals raise :class:`UnsafeURLError`."""
    transport = None if allow_private_hosts else PublicAddressTransport()
    return httpx.Client(transport=transport, timeout=timeout, follow_redirects=False)


def check_target(url: str, *, allow_private_hosts: bool) -> None:
    """Refuse a webhook URL aimed at a loopback/private address (raises :class:`UnsafeURLError`).

    A name that does not resolve now is accepted, as for listing URLs (the machine may be
    offline); it is checked again at every delivery.
    """
    normalize_listing_url(url, allow_private_hosts=allow_private_hosts)
    if allow_private_hosts:
        return
    try:
        public_addresses(url)
    except UnresolvableHostError:
        pass


__all__ = ["UnsafeURLError", "check_target", "guarded_client"]
