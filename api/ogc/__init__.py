"""pygeoapi providers and processes, named by dotted path in the generated config."""
