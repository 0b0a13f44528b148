"""Plain mutable records for compose's model (model.py, volumes.py), made as
``@dataclass`` makes them: an ``__init__`` taking the annotated fields in order
(positional or by keyword, defaults and per-record factories), a ``__repr__`` and an
``__eq__`` comparing the fields of two records of the same class (and so no hash).

Why not dataclasses: importing it imports inspect (ast, dis, tokenize...), ~6 ms of
every `boxnet compose` start on a loaded 2-core machine, for four small classes.
"""

from __future__ import annotations

_MISSING = object()


class factory:
    """A field default made anew for each record (dataclasses' default_factory)."""

    __slots__ = ("make",)

    def __init__(self, make):
        self.make = make


def record(cls):
    """Give `cls` dataclass-style __init__, __repr__ and __eq__ from its annotations."""
    names = tuple(cls.__dict__.get("__annotations__", {}))
    defaults = []
    for n in names:
        d = cls.__dict__.get(n, _MISSING)
        if d is _MISSING and defaults and defaults[-1] is not _MISSING:
            raise TypeError(f"non-default field {n!r} follows a default one in {cls.__name__}")
        if isinstance(d, factory):
            delattr(cls, n)   # as dataclasses: no class attribute for a factory field
        defaults.append(d)
    table = tuple(zip(names, defaults))

    def __init__(self, *args, **kwargs):
        if len(args) > len(names):
            raise TypeError(f"{cls.__name__}() takes {len(names)} positional arguments "
                            f"but {len(args)} were given")
        for n, v in zip(names, args):
            if n in kwargs:
                raise TypeError(f"{cls.__name__}() got multiple values for argument {n!r}")
            kwargs[n] = v
        for n, d in table:
            v = kwargs.pop(n, _MISSING)
            if v is _MISSING:
                if d is _MISSING:
                    raise TypeError(f"{cls.__name__}() missing required argument: {n!r}")
                v = d.make() if isinstance(d, factory) else d
            object.__setattr__(self, n, v)
        if kwargs:
            raise TypeError(f"{cls.__name__}() got an unexpected keyword argument "
                            f"{next(iter(kwargs))!r}")

    def __repr__(self):
        inner = ", ".join(f"{n}={getattr(self, n)!r}" for n in names)
        return f"{cls.__qualname__}({inner})"

    def __eq__(self, other):
        if other.__class__ is not self.__class__:
            return NotImplemented
        return all(getattr(self, n) == getattr(other, n) for n in names)

    __init__.__qualname__ = f"{cls.__qualname__}.__init__"
    cls.__init__ = __init__
    cls.__repr__ = __repr__
    cls.__eq__ = __eq__
    cls.__hash__ = None   # mutable and compared by value, as an eq=True dataclass
    cls.__match_args__ = names
    return cls
