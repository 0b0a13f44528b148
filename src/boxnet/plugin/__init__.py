"""boxnet as a Docker network and IPAM plugin (libnetwork's remote protocols): docs/plugins.md."""
