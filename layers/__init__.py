"""What is on the map: catalog, loaders, imagery, the demo city, pygeoapi resources."""
