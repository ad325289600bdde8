"""The bench: roles, limits enforced in one place, guaranteed emission off."""

from __future__ import annotations

import pytest

from avlab.errors import DetectorOverloadError, RunAborted, SafetyLimitError


def test_roles_are_found_by_kind(bench):
    assert bench.laser().role == "pump_1064"
    assert bench.power_meter().role == "power_meter"
    assert bench.detector().role == "detector"


def test_identities_name_every_instrument(bench):
    ids = bench.identities()
    assert "YLR-5-1064-LP" in ids["pump_1064"]["identity"]
    assert "PM100D" in ids["power_meter"]["identity"]
    assert all(info["resource"] == "sim" for info in ids.values())


def test_power_above_the_configured_limit_is_refused_before_sending(bench, sim_laser):
    before = sim_laser.commands_seen
    with pytest.raises(SafetyLimitError, match="3 W, the configured limit for pump_1064"):
        bench.laser().set_power_W(4.0)
    assert sim_laser.commands_seen == before


def test_negative_power_is_refused(bench):
    with pytest.raises(SafetyLimitError):
        bench.laser().set_power_W(-0.1)


def test_emission_on_waits_out_the_laser_start_up_on_the_bench_clock(bench, sim_laser):
    laser = bench.laser()
    laser.set_power_W(0.5)
    t0 = bench.now()
    laser.emission_on()
    assert bench.now() - t0 >= sim_laser.startup_s
    assert sim_laser.output_power_W() == pytest.approx(0.5)


def test_emitting_context_switches_off_on_exception(bench, sim_laser):
    with pytest.raises(ZeroDivisionError):
        with bench.laser().emitting():
            assert sim_laser.emission_requested
            1 / 0
    assert not sim_laser.emission_requested


def test_shutdown_switches_every_laser_off_and_reports(bench, sim_laser):
    bench.laser().emission_on()
    report = bench.shutdown()
    assert report.ok
    assert report.outcomes == {"pump_1064": "emission off"}
    assert not sim_laser.emission_requested


def test_wait_is_virtual_and_abortable(bench):
    t0 = bench.now()
    bench.wait(3600.0)
    assert bench.now() - t0 == pytest.approx(3600.0)
    bench.stop_event.set()
    with pytest.raises(RunAborted):
        bench.wait(1.0)


def test_detector_limit_stops_counting_above_the_configured_rate(sim_config):
    import dataclasses

    from avlab.bench import Bench

    detector = dataclasses.replace(sim_config.instruments["detector"],
                                   limits={"max_count_rate_cps": 1000.0})
    config = dataclasses.replace(sim_config,
                                 instruments={**sim_config.instruments, "detector": detector})
    with Bench(config) as b:
        b.laser().set_power_W(2.0)
        b.laser().emission_on()
        with pytest.raises(DetectorOverloadError, match="exceeds the configured limit"):
            b.detector().count(0.1)


def test_counts_are_dead_time_corrected(bench):
    bench.laser().set_power_W(2.0)
    bench.laser().emission_on()
    reading = bench.detector().count(1.0)
    assert reading.dead_time_loss == pytest.approx(reading.counts * 22e-9, rel=1e-9)
    assert reading.rate_cps > reading.counts


def test_unknown_role_lookup_names_the_configured_roles(bench):
    with pytest.raises(KeyError, match="configured: pump_1064, power_meter, detector"):
        bench["pump_852"]


def test_a_driver_whose_preparation_fails_is_closed_and_the_bench_reports_it(sim_config,
                                                                             monkeypatch):
    # Such a role never reaches bench.devices, so nothing else would ever release its link.
    from avlab import connect
    from avlab.bench import Bench
    from avlab.errors import BenchError

    closed = []

    def failing_prepare(inst, driver):
        if inst.role == "power_meter":
            raise TimeoutError("no answer to SENS:POW:UNIT")

    monkeypatch.setattr(connect, "_prepare", failing_prepare)
    monkeypatch.setattr(connect, "close_driver", lambda driver: closed.append(driver))
    with pytest.raises(BenchError, match="power_meter: could not connect"):
        Bench(sim_config)
    assert any(type(d).__name__ == "ThorlabsPM100" for d in closed)
