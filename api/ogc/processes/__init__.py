"""OGC API Processes of the platform: pygeoapi processors named by dotted path in pygeoapi-config.yml."""
