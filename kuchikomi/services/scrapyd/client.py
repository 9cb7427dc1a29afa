"""A small client of Scrapyd's JSON API (the endpoints a crawl run uses, nothing more).

Scrapyd answers ``{"status": "ok", …}`` or ``{"status": "error", "message": …}``, both with
HTTP 200; an error answer and any transport failure become :class:`ScrapydError` naming the node.
A node URL may carry ``user:password@`` for Scrapyd's basic authentication.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx


class ScrapydError(RuntimeError):
    """A Scrapyd node could not be reached or refused a request."""


@dataclass(frozen=True)
class Jobs:
    pending: set[str] = field(default_factory=set)
    running: set[str] = field(default_factory=set)
    # Finished job id → its log's URL on the node.
    finished: dict[str, str] = field(default_factory=dict)


class ScrapydNode:
    def __init__(self, url: str, *, timeout: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self._client = httpx.Client(base_url=self.url, timeout=timeout)

    def __str__(self) -> str:
        # Never print the basic-auth password.
        parsed = httpx.URL(self.url)
        return str(parsed.copy_with(username=None, password=None)) if parsed.password else self.url

    def close(self) -> None:
        self._client.close()

    def _call(self, method: str, endpoint: str, **kwargs: Any) -> dict[str, Any]:
        try:
            response = self._client.request(method, endpoint, **kwargs)
            response.raise_for_status()
            answer = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise ScrapydError(f"Scrapyd at {self}: {endpoint} failed: {exc}") from exc
        if not isinstance(answer, dict) or answer.get("status") != "ok":
            message = answer.get("message") if isinstance(answer, dict) else answer
            raise ScrapydError(f"Scrapyd at {self}: {endpoint} refused: {message}")
        return answer

    def versions(self, project: str) -> list[str]:
        # An unknown project is not an error here: it simply has no versions yet.
        answer = self._call("GET", "/listversions.json", params={"project": project})
        return list(answer["versions"])

    def add_version(self, project: str, version: str, egg: bytes) -> None:
        self._call(
            "POST",
            "/addversion.json",
            data={"project": project, "version": version},
            files={"egg": (f"{project}-{version}.egg", egg, "application/octet-stream")},
        )

    def schedule(
        self,
        *,
        project: str,
        spider: str,
        version: str,
        job_id: str,
        args: dict[str, str],
        settings: dict[str, str],
    ) -> None:
        data: dict[str, str | list[str]] = {
            **args,
            "project": project,
            "spider": spider,
            "_version": version,
            "jobid": job_id,
            # Scrapyd's repeated parameter: each becomes ``-s KEY=VALUE`` of the job.
            "setting": [f"{key}={value}" for key, value in settings.items()],
        }
        self._call("POST", "/schedule.json", data=data)

    def jobs(self, project: str) -> Jobs:
        answer = self._call("GET", "/listjobs.json", params={"project": project})
        return Jobs(
            pending={job["id"] for job in answer.get("pending", [])},
            running={job["id"] for job in answer.get("running", [])},
            finished={job["id"]: job.get("log_url") or "" for job in answer.get("finished", [])},
        )

    def cancel(self, project: str, job_id: str) -> None:
        self._call("POST", "/cancel.json", data={"project": project, "job": job_id})

    def log(self, log_url: str) -> str:
        """A job's log (``log_url`` as listjobs gives it, relative to the node)."""
        try:
            response = self._client.get(log_url)
            response.raise_for_status()
        except httpx.HTTPError as exc:
            raise ScrapydError(f"Scrapyd at {self}: reading {log_url} failed: {exc}") from exc
        return response.text
