"""Build the simulated bench from a lab config: the world and a twin for every `sim` role.

Shared by the bench (which wraps each twin in an in-process adapter under the real driver)
and by `avlab sim serve` (which puts the message-based twins on loopback TCP ports).
"""

from __future__ import annotations

from typing import Any

from .config import InstrumentConfig, LabConfig

#: Ports of the real instruments' network interfaces (docs/protocols.md §8); other twins get ports
#: counted up from the base port.
REAL_PORTS: dict[str, int] = {"ipg_ylr": 10001, "lakeshore_33x": 7777,
                              "montana_cryostation": 7773}


def build_world(config: LabConfig, *, realtime: bool | None = None) -> Any:
    """The simulated world for `config`: optics, sample, detection, clock."""
    from sim_devices.clock import RealTimeClock, VirtualClock
    from sim_devices.world import BenchOptics, Detection, Sample, SimWorld

    if realtime is None:
        all_simulated = all(i.simulated for i in config.instruments.values())
        realtime = config.simulation.realtime or not all_simulated
    sample_preset, sample_temperature_K = config.simulation.sample_for_world()
    return SimWorld(
        clock=RealTimeClock() if realtime else VirtualClock(),
        optics=BenchOptics(
            numerical_aperture=config.optics.numerical_aperture,
            attenuation_to_meter=config.simulation.attenuation_to_meter,
            transmission_to_sample=config.optics.transmission_to_sample,
            waist_um=config.optics.spot_waist_um,
        ),
        sample=Sample(preset=sample_preset, temperature_K=sample_temperature_K),
        detection=Detection(collection_efficiency=config.simulation.collection_efficiency),
        seed=config.simulation.seed,
    )


def build_twin(inst: InstrumentConfig, world: Any,
               faults: tuple[tuple[str, str, float], ...] = ()) -> Any:
    """The simulated twin of one role, placed in `world`, with its scheduled faults."""
    twin = _make_twin(inst, world)
    for role, fault, at_s in faults:
        if role != inst.role:
            continue
        if fault not in twin.fault_names():
            raise ValueError(f"simulation.faults: {role} ({inst.driver}) has no fault {fault!r}; "
                             f"known: {', '.join(twin.fault_names())}")
        if hasattr(twin, "schedule_fault"):
            twin.schedule_fault(fault, at_s, world.clock)
        else:
            raise ValueError(f"simulation.faults: {role} cannot schedule faults")
    return twin


def _make_twin(inst: InstrumentConfig, world: Any) -> Any:
    if inst.driver == "ipg_ylr":
        from sim_devices.instruments.ipg_ylr import SimIPGYLR

        twin = SimIPGYLR(world.clock, wavelength_nm=float(inst.spec.wavelength_nm),
                         max_power_W=inst.options.get("max_power_W") or 5.0)
        world.attach_source(inst.role, twin)
        return twin
    if inst.driver == "thorlabs_cld":
        from sim_devices.instruments.thorlabs_cld import SimThorlabsCLD

        opts = inst.options
        limit = opts.get("current_limit_A") or opts.get("max_current_A") or 1.0
        twin = SimThorlabsCLD(
            world.clock, wavelength_nm=float(inst.spec.wavelength_nm),
            threshold_current_A=opts["threshold_current_A"],
            slope_efficiency_W_A=opts["slope_efficiency_W_A"],
            current_limit_A=limit, max_current_A=max(1.5, limit),  # 1.5 A: CLD1015 maximum
            seed=int(world.rng.integers(2**32)))
        world.attach_source(inst.role, twin)
        return twin
    if inst.driver in ("lakeshore_33x", "montana_cryostation"):
        from sim_devices.thermal import ThermalStage

        stage = ThermalStage.closed_cycle(world.clock)
        world.attach_thermal(stage)
        if inst.driver == "lakeshore_33x":
            from sim_devices.instruments.lakeshore_33x import SimLakeShore336

            return SimLakeShore336(stage, model=inst.options.get("model", 336))
        from sim_devices.instruments.montana_cryostation import SimMontanaCryostation

        return SimMontanaCryostation(stage)
    if inst.driver == "swabian_time_tagger":
        from sim_devices.instruments.time_tagger import SimTimeTagger

        opts = inst.options
        extra = {k: opts[k] for k in ("detector_channel", "marker_channel", "dark_count_rate_cps",
                                      "timing_jitter_ps") if k in opts}
        return SimTimeTagger(world, pump_source_name=opts["pump_role"],
                             dead_time_s=opts["dead_time_ns"] * 1e-9, **extra)
    if inst.driver == "nidaq_modulator":
        from sim_devices.instruments.time_tagger import SimPumpModulator

        limits = {k: inst.limits[k] for k in ("min_period_s", "max_period_s")
                  if k in inst.limits}
        return SimPumpModulator(world, pump_source_name=inst.options["pump_role"], **limits)
    if inst.driver == "ocean_seabreeze":
        from sim_devices.instruments.ocean import SimOceanSpectrometer

        return SimOceanSpectrometer(world, throughput=inst.options.get("throughput", 0.2))
    if inst.driver == "spectrapro":
        from sim_devices.instruments.spectrapro import spectrograph_with_camera

        return spectrograph_with_camera(
            world, camera_throughput=inst.options.get("camera_throughput", 0.4))
    if inst.driver == "nidaq_galvo":
        from sim_devices.instruments.galvo_scanner import SimGalvoScanner

        return SimGalvoScanner(
            world, calibration=galvo_calibration(inst),
            dark_count_rate_cps=inst.options.get("dark_count_rate_cps", 25.0),
            dead_time_s=inst.options["dead_time_ns"] * 1e-9)
    if inst.driver == "thorlabs_elliptec":
        from sim_devices.instruments.thorlabs_elliptec import SimThorlabsElliptec

        opts = inst.options
        twin = SimThorlabsElliptec(world.clock, address=opts.get("address", "0"),
                                   theta0_deg=opts["theta0_deg"], t_max=opts["t_max"],
                                   t_min=opts["t_min"],
                                   design_wavelength_nm=opts.get("design_wavelength_nm"))
        world.add_to_beam_path(twin)
        return twin
    if inst.driver == "thorlabs_pm100":
        from sim_devices.instruments.thorlabs_pm100 import SimThorlabsPM100

        return SimThorlabsPM100(world)
    if inst.driver == "nidaq_counter":
        from sim_devices.instruments.photon_counter import SimPhotonCounter

        return SimPhotonCounter(
            world,
            dark_count_rate_cps=inst.options.get("dark_count_rate_cps", 25.0),
            dead_time_s=inst.options["dead_time_ns"] * 1e-9,
        )
    raise ValueError(f"{inst.role}: no simulated twin for driver {inst.driver!r}")


def galvo_calibration(inst: InstrumentConfig) -> Any:
    """The galvo calibration of a scanner role: config options plus its limits."""
    from drivers.scanning.calibration import GalvoCalibration

    opts = inst.options
    return GalvoCalibration(volts_per_degree=opts["volts_per_degree"],
                            um_per_degree=opts["um_per_degree"],
                            offset_volts=opts.get("offset_volts", 0.0),
                            max_volts=inst.limits["max_volts"],
                            max_slew_V_per_ms=inst.limits["max_slew_V_per_ms"])


def is_message_based(twin: Any) -> bool:
    """Twins that speak a wire protocol (and so can be served over TCP)."""
    from sim_devices.instruments.base import SimulatedMessageInstrument

    return isinstance(twin, SimulatedMessageInstrument)


def serve(config: LabConfig, *, base_port: int = 50000, real_ports: bool = True,
          host: str = "127.0.0.1", control_port: int | None = None,
          ) -> tuple[Any, Any, list[str]]:
    """Serve every message-based `sim` role on loopback; returns (server, world, skipped roles).

    The world runs on the wall clock: clients outside this process see real time. A fault
    control channel (see `sim_devices.fault_control`) is served too, under the name
    "faults", on `control_port` (default: the next port after the twins).
    """
    from sim_devices.fault_control import FaultControl
    from sim_devices.server import InstrumentServer

    world = build_world(config, realtime=True)
    server = InstrumentServer(host)
    skipped = []
    twins: dict[str, Any] = {}
    next_port = base_port
    try:
        for role, inst in config.instruments.items():
            if not inst.simulated:
                continue
            twin = build_twin(inst, world, config.simulation.faults)
            twins[role] = twin
            if not is_message_based(twin):
                skipped.append(role)
                continue
            port = REAL_PORTS.get(inst.driver) if real_ports else None
            if port is None:
                port = next_port
                next_port += 1 if next_port else 0  # base 0: every twin on a free port
            server.add(role, twin, port)
        server.add("faults", FaultControl(twins), next_port if control_port is None
                   else control_port)
    except BaseException:
        server.close()
        raise
    return server, world, skipped
