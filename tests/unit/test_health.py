"""core/health.py: dockerd's healthcheck rules without I/O (validation, the
image merge, probe timing, state transitions, output and message formats)."""

from __future__ import annotations

import pytest

from boxnet.core import health as h
from boxnet.errors import InvalidParameter
from boxnet.model.health import Health, HealthcheckResult

S = h.SECOND


def _result(code: int, out: str = "") -> HealthcheckResult:
    return HealthcheckResult(start="s", end="e", exit_code=code, output=out)


@pytest.mark.parametrize("field", ["Interval", "Timeout", "StartPeriod", "StartInterval"])
@pytest.mark.parametrize("value", [-1, -S, 999_999])
def test_durations_below_one_millisecond_are_refused_with_dockerds_message(field, value):
    with pytest.raises(InvalidParameter) as e:
        h.validate({"Test": ["CMD", "true"], field: value})
    assert e.value.message == f"{field} in Healthcheck cannot be less than 1ms"


def test_zero_and_one_millisecond_are_fine_negative_retries_are_not():
    assert h.validate({"Test": ["CMD", "true"], "Interval": 0, "Timeout": 1_000_000}) == \
        {"Test": ["CMD", "true"], "Interval": 0, "Timeout": 1_000_000}
    with pytest.raises(InvalidParameter, match="Retries in Healthcheck cannot be negative"):
        h.validate({"Retries": -1})


@pytest.mark.parametrize("bad", [{"Test": "true"}, {"Test": ["SHELL", "x"]}, {"Test": ["CMD"]},
                                 {"Interval": "30s"}, {"Retries": 1.5}, {"Tset": []}, []])
def test_malformed_healthchecks_are_refused_naming_the_field(bad):
    with pytest.raises(InvalidParameter, match="Healthcheck"):
        h.validate(bad)


def test_none_test_and_an_absent_healthcheck_are_valid():
    assert h.validate(None) is None
    assert h.validate({"Test": ["NONE"]}) == {"Test": ["NONE"]}


def test_merge_container_fields_override_the_images_one_by_one():
    image = {"Test": ["CMD-SHELL", "img"], "Interval": 5 * S, "Retries": 7}
    assert h.merge(None, image) == image
    assert h.merge({"Timeout": 2 * S}, image) == {"Test": ["CMD-SHELL", "img"], "Timeout": 2 * S,
                                                  "Interval": 5 * S, "Retries": 7}
    assert h.merge({"Test": ["CMD", "mine"], "Interval": S}, image)["Test"] == ["CMD", "mine"]
    assert h.merge({"Test": ["NONE"]}, image)["Test"] == ["NONE"]
    assert h.probe_of(h.merge({"Test": ["NONE"]}, image)) is None
    assert h.merge({"Test": ["CMD", "x"]}, None) == {"Test": ["CMD", "x"]}
    with pytest.raises(InvalidParameter, match="the image's Interval"):
        h.merge(None, {"Test": ["CMD", "x"], "Interval": -5})


def test_probe_defaults_and_shell_form():
    p = h.probe_of({"Test": ["CMD-SHELL", "curl -f localhost || exit 1"]})
    assert p.argv == ["/bin/sh", "-c", "curl -f localhost || exit 1"]
    assert (p.interval, p.timeout, p.start_period, p.start_interval, p.retries) == \
        (30.0, 30.0, 0.0, 5.0, 3)
    assert h.probe_of({"Test": ["CMD", "ls", "/"]}).argv == ["ls", "/"]
    assert h.probe_of({"Test": ["CMD-SHELL", "x"]}, ["/bin/bash", "-c"]).argv == \
        ["/bin/bash", "-c", "x"]
    assert h.probe_of(None) is None and h.probe_of({"Test": []}) is None


def test_failures_count_after_the_start_period_and_retries_make_it_unhealthy():
    p = h.probe_of({"Test": ["CMD", "x"], "Retries": 2, "StartPeriod": 10 * S})
    st = h.begin(None)
    assert st.status == "starting"
    assert not h.record(st, p, _result(1), since_start=3)       # inside the start period
    assert (st.status, st.failing_streak) == ("starting", 0)
    assert not h.record(st, p, _result(1), since_start=11)
    assert (st.status, st.failing_streak) == ("starting", 1)
    assert h.record(st, p, _result(1, "boom"), since_start=12)
    assert (st.status, st.failing_streak) == ("unhealthy", 2)
    assert h.record(st, p, _result(0), since_start=13)
    assert (st.status, st.failing_streak) == ("healthy", 0)


def test_a_success_ends_the_start_period_later_failures_count():
    p = h.probe_of({"Test": ["CMD", "x"], "Retries": 1, "StartPeriod": 60 * S})
    st = h.begin(None)
    assert h.record(st, p, _result(0), since_start=1)
    assert h.record(st, p, _result(1), since_start=2)     # healthy: no grace any more
    assert st.status == "unhealthy"


def test_the_log_keeps_the_last_five_and_begin_keeps_it():
    p = h.probe_of({"Test": ["CMD", "x"]})
    st = h.begin(None)
    for i in range(7):
        h.record(st, p, _result(i), since_start=100)
    assert [r.exit_code for r in st.log] == [2, 3, 4, 5, 6]
    again = h.begin(st)
    assert (again.status, again.failing_streak, len(again.log)) == ("starting", 0, 5)
    h.stop(again)
    assert again.status == "unhealthy"


def test_next_delay_uses_start_interval_only_while_starting_in_the_start_period():
    p = h.probe_of({"Test": ["CMD", "x"], "Interval": 20 * S, "StartPeriod": 30 * S,
                    "StartInterval": 2 * S})
    assert h.next_delay(p, Health(status="starting"), 1) == 2
    assert h.next_delay(p, Health(status="healthy"), 1) == 20
    assert h.next_delay(p, Health(status="starting"), 31) == 20


def test_output_is_truncated_like_dockers_limited_buffer():
    assert h.output_text(b"ok\n") == "ok\n"
    assert h.output_text(b"a" * 4096) == "a" * 4096
    assert h.output_text(b"a" * 5000) == "a" * 4096 + "..."


@pytest.mark.parametrize("ns,text", [(30 * S, "30s"), (1_500_000_000, "1.5s"),
                                     (500_000_000, "500ms"), (90 * S, "1m30s"),
                                     (7200 * S, "2h0m0s"), (1_000_000, "1ms")])
def test_go_duration_strings(ns, text):
    assert h.go_duration(ns) == text


def test_timeout_message_ps_suffix_and_filter_values():
    p = h.probe_of({"Test": ["CMD", "x"], "Timeout": S})
    assert h.timeout_output(p, "") == "Health check exceeded timeout (1s)"
    assert h.timeout_output(p, "partial") == "Health check exceeded timeout (1s): partial"
    assert h.status_suffix(None) == ""
    assert h.status_suffix(Health(status="starting")) == " (health: starting)"
    assert h.status_suffix(Health(status="healthy")) == " (healthy)"
    assert h.filter_value(None) == "none"
    h.check_filter(["starting", "healthy", "unhealthy", "none"])
    with pytest.raises(InvalidParameter, match="Unrecognised filter value for health: ok"):
        h.check_filter(["ok"])


def test_health_json_is_dockers_shape():
    st = Health(status="healthy", failing_streak=0, log=[_result(0, "fine")])
    assert h.health_json(st) == {"Status": "healthy", "FailingStreak": 0, "Log": [
        {"Start": "s", "End": "e", "ExitCode": 0, "Output": "fine"}]}
    assert h.health_json(None) is None
