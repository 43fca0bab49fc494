"""Lessons and checkpoints: TLS set-ups that teach, and verdicts on a lab. No textual here."""
