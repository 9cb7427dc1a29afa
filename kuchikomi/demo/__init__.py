"""The local demo review portal (kuchikomi demo and the crawler tests)."""
