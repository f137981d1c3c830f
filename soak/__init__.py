"""The soak: the whole trading loop as real processes under a seeded chaos driver, then the checks.

``make soak`` (``python -m soak``) runs a long one; ``tests/soak/`` runs a short one in ``make test``.
"""
