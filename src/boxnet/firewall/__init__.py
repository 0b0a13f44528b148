"""Firewall: isolation between networks now; NAT and published ports slot in."""
