"""Export: Anki .apkg packages (genanki) and YAML deck files (format 1)."""
