"""Ingenium's runnable components: ingestors, strategies, a portfolio and a paper executor.

Each lives in its own package and runs with ``ingenium run services.<package>.<module>:<Class>``.
"""
