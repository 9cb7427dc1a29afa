"""Crawl runs on Scrapyd nodes: the egg, the HTTP client, the run.

docs/production.md#scrapyd explains the layout.
"""
