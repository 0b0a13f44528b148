"""boxnet's Engine API client: what the `boxnet` CLI and the compose front end share.

engine   the HTTP client over the daemon's unix socket (plain and hijacked requests)
streams  Docker's multiplexed stream framing, copying streams, running an exec
specs    parsers of option values both front ends send (-p specs, restart policies,
         seccomp profiles), raising errors.OptionError
errors   the plain errors of this package (no click: each front end words them its way)

Never imports click, the CLI or daemon code: it talks HTTP to the socket only.
"""
