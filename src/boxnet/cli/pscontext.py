"""`ps` rows: docker's ContainerContext fields and its DisplayablePorts."""

from __future__ import annotations

from .formatting import ellipsis, go_quote, since, trunc_id


def displayable_ports(ports: list[dict]) -> str:
    """docker's DisplayablePorts: group consecutive ports, list host mappings."""
    import ipaddress

    def key(p):
        return (p.get("PrivatePort", 0), p.get("IP", ""), p.get("PublicPort", 0),
                p.get("Type", ""))

    def host(ip, port):
        try:
            v6 = ipaddress.ip_address(ip).version == 6
        except ValueError:
            v6 = False
        return f"[{ip}]:{port}" if v6 else f"{ip}:{port}"

    groups: dict[tuple, list[int]] = {}
    order: list[tuple] = []
    result, mappings = [], []
    for p in sorted(ports or [], key=key):
        cur, typ, ip = p.get("PrivatePort", 0), p.get("Type", "tcp"), p.get("IP", "")
        if ip and p.get("PublicPort", 0) != cur:
            mappings.append(f"{host(ip, p.get('PublicPort', 0))}->{cur}/{typ}")
            continue
        gkey = (ip, typ)
        g = groups.get(gkey)
        if g is None:
            groups[gkey] = [cur, cur]
            order.append(gkey)
        elif cur == g[1] + 1:
            g[1] = cur
        else:
            result.append(_form_group(gkey, g))
            groups[gkey] = [cur, cur]
    result += [_form_group(k, groups[k]) for k in order]
    return ", ".join(result + mappings)


def _form_group(gkey: tuple, g: list[int]) -> str:
    ip, typ = gkey
    rng = str(g[0]) if g[0] == g[1] else f"{g[0]}-{g[1]}"
    if ip:
        h = f"[{ip}]" if ":" in ip else ip
        return f"{h}:{rng}->{rng}/{typ}"
    return f"{rng}/{typ}"


class ContainerRow:
    """Template fields of one `ps` row (docker's ContainerContext)."""

    DEFAULT_TABLE = ("{{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t"
                     "{{.Ports}}\t{{.Names}}")
    HEADERS = {"ID": "CONTAINER ID", "Image": "IMAGE", "Command": "COMMAND",
               "CreatedAt": "CREATED AT", "RunningFor": "CREATED", "Status": "STATUS",
               "Ports": "PORTS", "Names": "NAMES", "State": "STATE", "Size": "SIZE",
               "Labels": "LABELS", "Label": "LABEL", "Mounts": "MOUNTS",
               "Networks": "NETWORKS", "LocalVolumes": "LOCAL VOLUMES"}
    JSON_FIELDS = ("Command", "CreatedAt", "ID", "Image", "Labels", "LocalVolumes", "Mounts",
                   "Names", "Networks", "Platform",
                   "Ports", "RunningFor", "Size", "State", "Status")

    def __init__(self, c: dict, trunc: bool = True):
        import time
        self._c = c
        cid = c.get("Id", "")
        self.ID = trunc_id(cid) if trunc else cid
        self.Image = c.get("Image", "")
        self.Platform = None
        cmd = c.get("Command", "")
        self.Command = go_quote(ellipsis(cmd, 20) if trunc else cmd)
        created = c.get("Created", 0)
        self.CreatedAt = time.strftime("%Y-%m-%d %H:%M:%S %z %Z", time.localtime(created))
        self.RunningFor = since(created)
        self.Status = c.get("Status", "")
        self.State = c.get("State", "")
        self.Ports = displayable_ports(c.get("Ports") or [])
        names = [n[1:] if n.startswith("/") else n for n in c.get("Names") or []]
        if trunc:  # docker shows only the first name that is not a link
            names = next(([n] for n in names if "/" not in n), names)
        self.Names = ",".join(names)
        labels = c.get("Labels") or {}
        self.Labels = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
        nets = ((c.get("NetworkSettings") or {}).get("Networks") or {})
        self.Networks = ",".join(sorted(nets))
        mounts = c.get("Mounts") or []
        self.Mounts = ",".join(m.get("Name") or m.get("Source", "") for m in mounts)
        self.LocalVolumes = str(sum(1 for m in mounts if m.get("Driver") == "local"))
        self.Size = "0B"

    def Label(self, name: str) -> str:
        """The value of one label."""
        return (self._c.get("Labels") or {}).get(name, "")
