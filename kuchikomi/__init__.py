"""kuchikomi-guard: finds malicious public reviews of Japanese clinics; a person decides."""

__version__ = "0.1.0"
