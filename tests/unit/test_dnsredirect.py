"""kernel/dnsredirect.py without the kernel: the scripts, and reading a listed table back.

LISTING is what `nft list table ip boxnet_dns` printed (nftables 1.0.6, kernel 6.18) for
create_script("127.0.0.11", 36242, 33785); tests/integration/test_dns_port53.py checks
the rules on the real kernel, from inside containers.
"""

from __future__ import annotations

from boxnet.kernel import dnsredirect as dr

IP = "127.0.0.11"

LISTING = """table ip boxnet_dns {
\tcomment "boxnet-dns/1 udp=36242 tcp=33785"
\tchain output {
\t\ttype filter hook output priority raw; policy accept;
\t\tip daddr 127.0.0.11 udp dport 53 udp dport set 36242
\t\tip daddr 127.0.0.11 tcp dport 53 tcp dport set 33785
\t}

\tchain postrouting {
\t\ttype filter hook postrouting priority 300; policy accept;
\t\tip saddr 127.0.0.11 udp sport 36242 udp sport set 53
\t\tip saddr 127.0.0.11 tcp sport 33785 tcp sport set 53
\t\ticmp code port-unreachable @th,136,8 0x11 @th,192,32 0x7f00000b @th,240,16 0x8d92 \
icmp mtu 0 @th,64,8 0x45 @th,240,16 set 0x35 icmp mtu set 36189
\t}
}
"""


def test_listing_gives_the_recorded_ports():
    assert dr.table_ports(LISTING) == (36242, 33785)


def test_other_tables_are_not_taken_for_ours():
    """No comment, an older layout or nonsense ports: replaced, never reused."""
    assert dr.table_ports("table ip boxnet_dns {\n}\n") is None
    assert dr.table_ports(LISTING.replace("boxnet-dns/1", "boxnet-dns/0")) is None
    assert dr.table_ports(LISTING.replace("udp=36242", "udp=53")) is None
    assert dr.table_ports(LISTING.replace("tcp=33785", "tcp=99999")) is None


def test_create_never_deletes_and_replace_is_one_transaction():
    """create fails on an existing table and deletes nothing (a deletion's deferred
    destroy work would be waited for in the start path); replace names the table
    before deleting it so it works whether or not one exists."""
    c = dr.create_script(IP, 36242, 33785)
    assert c.startswith('create table ip boxnet_dns { comment "boxnet-dns/1 udp=36242 '
                        'tcp=33785"; }\n') and "delete" not in c
    r = dr.replace_script(IP, 36242, 33785)
    assert r.startswith("table ip boxnet_dns {}\ndelete table ip boxnet_dns\n")
    for script in (c, r):
        assert dr.table_ports(script) == (36242, 33785)
        assert "udp dport 53 udp dport set 36242" in script
        assert "tcp dport 53 tcp dport set 33785" in script
        assert "udp sport 36242 udp sport set 53" in script
        assert "tcp sport 33785 tcp sport set 53" in script
        assert "type nat" not in script and "dnat" not in script and "ct " not in script


def test_icmp_quote_fix_keeps_the_checksum():
    """The ICMP rule sets the quoted port 36242 back to 53 and adds the difference to a
    16-bit word that was 0: the one's complement sum of the message is unchanged."""
    c = dr.create_script(IP, 36242, 33785)
    line = next(x for x in c.splitlines() if "icmp type destination-unreachable" in x)
    assert "@th,240,16 36242" in line and "@th,240,16 set 53" in line
    assert "@th,48,16 0 " in line and line.endswith("@th,48,16 set 36189")

    def ones_sum(words):
        s = 0
        for w in words:
            s += w
            s = (s & 0xFFFF) + (s >> 16)
        return s
    before = ones_sum([36242, 0, 0x1234])
    after = ones_sum([53, 36242 - 53, 0x1234])
    assert before == after
