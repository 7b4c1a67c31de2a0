"""Saved searches and alerts: the SQLite store, percolation after commits, webhook delivery.

- `db.py`: the alerts database beside the index (saved searches, matches, cursor, deliveries).
- `percolation.py`: runs every saved search over the passages of a commit.
- `delivery.py`: signed webhook POSTs with retries, in a background thread.
"""
