"""Build the simulated bench from a lab config: the world and a twin for every `sim` role.

Shared by the bench (which wraps each twin in an in-process adapter under the real driver)
and by `avlab sim serve` (which puts the message-based twins on loopback TCP ports).
"""

from __future__ import annotations

from typing import Any

from .config import InstrumentConfig, LabConfig

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
    """The simulated twin of one role (its spec builds it), placed in `world`, with its
    scheduled faults."""
    spec = inst.driver_spec.twin
    if spec is None:
        raise ValueError(f"{inst.role}: driver {inst.driver!r} has no simulated twin")
    twin = spec.build(inst, world)
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


def serve(config: LabConfig, *, base_port: int = 50000, real_ports: bool = True,
          host: str = "127.0.0.1", control_port: int | None = None,
          ) -> tuple[Any, Any, list[str]]:
    """Serve every `sim` role whose twin spec says it is servable on loopback; returns (server, world, skipped roles).

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
            twin_spec = inst.driver_spec.twin
            if not twin_spec.served:
                skipped.append(role)
                continue
            port = twin_spec.port if real_ports else None
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
