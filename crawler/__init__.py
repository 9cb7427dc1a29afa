"""Crawling: HTTP, HTML and the review sites. Knows nothing of classification."""
