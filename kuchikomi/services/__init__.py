"""Service functions shared by the CLI and the API: they compose the stages over the database."""
