"""The commands the services package adds to ``ingenium`` (``demo``, ``ingest``, ``sample-data``), as entry points."""
