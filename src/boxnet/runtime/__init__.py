"""Container runtime: OCI bundles run by runc, and the image store."""
