"""What every `boxnet compose` command shares: the global options with the project
loaded on first use, and the wrapper that turns compose errors into the CLI's."""

from __future__ import annotations

import functools

from ..client.engine import Client
from .failure import Failure, print_err


class ComposeState:
    """Global compose options; the project is loaded on first use."""

    def __init__(self, parent, host, files, project_name, env_file, project_dir):
        self.parent = parent
        self.host = host
        self.files = list(files) or None
        self.project_name = project_name
        self.env_file = env_file
        self.project_dir = project_dir
        self._project = None

    @property
    def client(self) -> Client:
        """The API client (the parent CLI's when run as `boxnet compose`)."""
        if self.parent is not None and not self.host:
            return self.parent.client
        return Client(self.host)

    @property
    def project(self):
        """The loaded, checked project."""
        if self._project is None:
            from ..compose.loader import load
            self._project = load(self.files, self.project_name, self.env_file,
                                 project_dir=self.project_dir)
            for w in self._project.warnings:
                print_err(f"WARN[0000] {w}")
        return self._project

    def runner(self):
        """A Runner for the project, logging progress to stderr like docker compose."""
        from ..compose.project import Runner
        return Runner(self.client, self.project, log=lambda m: print_err(" " + m))


def handled(fn):
    """Turn compose errors into a printed message and exit code 1."""
    @functools.wraps(fn)
    def wrapper(*a, **kw):
        from ..compose.errors import ComposeError, ProjectError
        try:
            return fn(*a, **kw)
        except (ComposeError, ProjectError) as e:
            raise Failure(f"error: {e}", 1) from None
    return wrapper
