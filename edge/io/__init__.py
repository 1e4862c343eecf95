"""Adapters: broker, SQLite files, cloud client, ONNX session, HTTP, metrics; only the composition root imports them."""
