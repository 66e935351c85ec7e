"""The doors: HTTP (ASGI) and CLI adapters. Thin: no SQL, no geometry maths."""
