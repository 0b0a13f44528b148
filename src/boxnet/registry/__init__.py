"""Images from registries: a small client of the OCI distribution spec and
Docker's registry v2 on aiohttp (pull, push, login), with a content-addressed
blob store under the data root.  Sans-I/O parts (reference.py, manifest.py,
auth.py's parsing, progress.py) are pure; client.py, blobs.py, pull.py and
push.py do the I/O.  Images are made with runtime/'s verified layer
application (runtime/layers.py)."""
