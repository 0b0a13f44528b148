"""DHCPv4 for macvlan/ipvlan endpoints (IPAM driver "dhcp", as netavark's):
``wire.py`` the packet format, ``client.py`` the sans-I/O state machine,
``leases.py`` the daemon's lease tasks and their store records. The kernel
side (the socket in the container's netns, the address) is kernel/dhcpsock.py;
the IPAM driver's rules are ipam/dhcp.py."""
