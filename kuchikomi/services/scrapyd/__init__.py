"""Crawl runs on Scrapyd nodes: the egg, the HTTP client and the run (docs/production.md#scrapyd)."""
