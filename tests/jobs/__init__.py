"""Background jobs: deck sync, backups, housekeeping, the runner and its lock."""
