"""Routers of the app: JSON API (clinics, reviews), health, docs and the staff web pages."""
