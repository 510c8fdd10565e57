"""flashcards: a self-hosted spaced-repetition service.

YAML deck files -> deckfile (parse, validate) -> services (import, study) -> database;
srs holds the SM-2 algorithm, web the Flask UI, export the Anki packages, jobs the
background work. See docs in README.md and the design notes.
"""

__version__ = "0.1.0"
