"""The Flask web UI and JSON API: app factory, blueprints, templates, static files."""
