"""The HTTP side: JSON API under ``/api/v1``, the Japanese staff web UI, health and API docs.

Knows HTTP, not crawling or text: routes parse the request, call a ``kuchikomi.services`` function
and return a schema or a rendered page. Build the app with :func:`api.app.create_app`.
"""
