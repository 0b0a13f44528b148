"""Run one function over several items at once, in threads: API calls that do not
depend on each other (the containers of one service at `down`, networks...).

concurrent.futures would do, but importing it (it pulls in logging) costs ~10 ms of
a `compose down` on a loaded 2-core machine; and a single item, the usual case, runs
inline with no thread at all.
"""

from __future__ import annotations

MAX_WORKERS = 8


def each(fn, items, max_workers: int = MAX_WORKERS) -> list:
    """[fn(item) for item in items], up to max_workers at a time; every call runs to
    its end, then the first exception (in the items' order) is raised, as
    list(ThreadPoolExecutor.map(...)) does."""
    items = list(items)
    if len(items) <= 1:
        return [fn(x) for x in items]
    import threading
    results: list = [None] * len(items)
    errors: list = [None] * len(items)
    lock = threading.Lock()
    todo = iter(range(len(items)))

    def worker() -> None:
        while True:
            with lock:
                i = next(todo, None)
            if i is None:
                return
            try:
                results[i] = fn(items[i])
            except BaseException as e:   # handed to the caller below, in order
                errors[i] = e

    threads = [threading.Thread(target=worker, daemon=True)
               for _ in range(min(max_workers, len(items)))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for e in errors:
        if e is not None:
            raise e
    return results
