"""Background jobs (APScheduler 3.x): deck folder sync, backups, housekeeping."""
