"""Side-by-side workloads: our figure next to a named baseline measured in the same run (`make bench`)."""
