"""The kernel layer: the only code that talks to Linux directly.

- ``netns``: create/pin/delete network namespaces, run code inside them.
- ``netlink``: async links, addresses and routes (pyroute2 stays in here).
- ``nft``: nftables through libnftables (ctypes), atomic scripts.
- ``sysctl``: per-netns sysctls.
- ``features``: probes of what this kernel supports.

Submodules are imported on demand (``from boxnet.kernel.netlink import
Netlink``) so that importing one does not load pyroute2 or libnftables.
"""
