"""The bodies of `boxnet compose up` and `down`, without click.

Both the click commands (cli/compose.py) and the click-free fast path
(cli/compose_fast.py) call these, so the two ways in behave the same.
"""

from __future__ import annotations

from .compose_state import ComposeState, handled
from .failure import Failure, print_err


@handled
def up(st: ComposeState, detach: bool, remove_orphans: bool, wait: bool,
       services: list[str]) -> None:
    """Create and start containers (`up`); without detach, follow their logs."""
    r = st.runner()
    r.up(list(services) or None)
    if remove_orphans:
        r.remove_orphans()
    if wait:
        r.wait(list(services) or None)
        return
    if not detach:
        from ..compose.logs import follow
        try:
            follow(st.client, r.containers(list(services)[0] if len(services) == 1 else None),
                   follow_=True)
        except KeyboardInterrupt:
            print_err("Gracefully stopping... (press Ctrl+C again to force)")
            r.each("stop", list(services) or None)


@handled
def down(st: ComposeState, volumes: bool, remove_orphans: bool, timeout: int | None) -> None:
    """Stop and remove containers and networks (`down`); errors raise one Failure."""
    r = st.runner()
    r.stop_timeout = timeout
    errors = r.down(remove_orphans, remove_volumes=volumes)
    if errors:
        raise Failure("\n".join(errors))
