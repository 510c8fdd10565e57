"""SM-2 as Anki runs it: pure functions over immutable card state (no clock, no DB)."""
