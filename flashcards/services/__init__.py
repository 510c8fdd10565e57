"""Use cases over a Session: import, study queue, answer/undo, stats, users.

Services take a Session and never commit; the caller owns the transaction.
"""
