"""Ingenium's web UI: server-rendered pages, a versioned JSON API with its OpenAPI document, live updates over SSE."""
