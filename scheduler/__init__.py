"""The nightly crawl, scheduled with APScheduler 3.11 and a job store in the project's database."""
