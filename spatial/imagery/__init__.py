"""The imagery database (影像库): the scene table behind multi-scene, time-enabled imagery layers."""
