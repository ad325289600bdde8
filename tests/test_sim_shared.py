"""Pieces the simulated instruments share: fault-name checks, the SDK link check, the SCPI
error queue, the cryocooler curve and the Montana query table."""

from __future__ import annotations

import pytest

from sim_devices.instruments.montana_cryostation import SimMontanaCryostation
from sim_devices.instruments.photon_counter import SimPhotonCounter
from sim_devices.instruments.thorlabs_pm100 import SimThorlabsPM100
from sim_devices.thermal import Cryocooler, LiquidNitrogenBath
from sim_devices.world import SimWorld


@pytest.mark.parametrize("make", [
    lambda world: SimPhotonCounter(world),
    lambda world: SimThorlabsPM100(world),
])
def test_an_unknown_fault_is_refused_with_the_known_ones_listed(make):
    twin = make(SimWorld(seed=1))
    known = ", ".join(twin.fault_names())
    message = f"{type(twin).__name__} has no fault 'melt'; known: {known}"
    with pytest.raises(ValueError) as inject_error:
        twin.inject("melt")
    assert str(inject_error.value) == message
    with pytest.raises(ValueError) as schedule_error:
        twin.schedule_fault("melt", 1.0, twin.world.clock)
    assert str(schedule_error.value) == message
    assert not twin.active_faults


def test_sdk_link_check_applies_due_faults_and_hangs_for_the_gate():
    world = SimWorld(seed=1)
    counter = SimPhotonCounter(world)
    counter.schedule_fault("stop_answering", 1.0, world.clock)
    counter.count(1.0)  # fault not due yet
    start = world.clock.now()
    with pytest.raises(TimeoutError, match="gate did not complete"):
        counter.count(0.25)
    assert world.clock.now() - start == pytest.approx(0.25)
    counter.inject("drop_connection")  # a dropped link wins over a hung one, without waiting
    start = world.clock.now()
    with pytest.raises(ConnectionResetError, match="device not present"):
        counter.count(0.25)
    assert world.clock.now() == start


def test_pm100_error_queue_keeps_ten_entries_then_reports_overflow():
    meter = SimThorlabsPM100(SimWorld(seed=1))
    for _ in range(12):
        assert meter.handle("FOO") is None
    replies = [meter.handle("SYST:ERR?") for _ in range(11)]
    assert replies[:9] == ['-113,"Undefined header"'] * 9
    assert replies[9] == '-350,"Error queue overflow"'
    assert replies[10] == '+0,"No error"'


def test_pm100_cls_clears_the_queue_and_opc_answers_one():
    meter = SimThorlabsPM100(SimWorld(seed=1))
    meter.handle("FOO")
    assert meter.handle("*OPC?") == "1"
    assert meter.handle("*CLS") is None
    assert meter.handle("SYST:ERR:NEXT?") == '+0,"No error"'


@pytest.mark.parametrize("temperature_K", [1.0, 3.2, 3.7, 4.2, 77.0, 300.0, 400.0])
def test_cryocooler_power_and_slope_match_the_single_queries(temperature_K):
    cooler = Cryocooler()
    assert cooler.power_and_slope(temperature_K) == (cooler.power_W(temperature_K),
                                                     cooler.slope_W_K(temperature_K))


def test_nitrogen_bath_power_and_slope_default_to_the_single_queries():
    bath = LiquidNitrogenBath()
    assert bath.power_and_slope(100.0) == (bath.power_W(100.0), bath.slope_W_K(100.0))


@pytest.mark.parametrize("query", ["GPT", "GST", "GUT", "GS1T", "GS2T", "GPS", "GSS", "GUS",
                                   "GTSP", "GCP", "GAS", "GPHP", "gpt"])
def test_every_montana_query_answers_without_an_error(query):
    cryostat = SimMontanaCryostation(clock=SimWorld(seed=1).clock)
    reply = cryostat.handle(query)
    assert reply is not None and not reply.startswith("Error")
