"""The web pages and their locally served assets."""
