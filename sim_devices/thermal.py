"""A cryostat's thermal behaviour on the simulated bench: cold source, stage, sample, heaters.

Two lumped nodes: the **platform** (cold plate: the cold source, the control heater and the
control sensor sit here) and the **sample** (linked to the platform by a finite conductance, so
it lags behind the control sensor, as a real sample does). The cold source removes heat as a
function of the platform temperature — a cryocooler curve with a base temperature of a few
kelvin, or a liquid-nitrogen bath at 77 K — and a small heat leak from the room (conduction and
radiation lumped as a conductance to 295 K, so it vanishes at room temperature) warms both.

Heaters are `HeaterLoop`s with the Lake Shore control law (docs/protocols.md §7a; Lake Shore 335/336
manuals §2.7 and §4.5.1.7): the output in % of the range's full-scale *current* is

    out = P·[e + (1/t_I)·∫e dt + t_D·de/dt] + manual output,   e = setpoint − reading,
    t_I = 1000/I  (s),   t_D = (D/100)·t_I/4  (s),

so P is a gain in % per kelvin, I a "reset" in repeats per 1000 s, D a percentage of a quarter
of the integral time. Ranges Low/Medium/High give 1 %/10 %/100 % of the heater's maximum power
(a decade apart, as on the 331: 0.5/5/50 W), and the power is range power × (out/100)² (a
current source; `linear_power` makes it range power × out/100 for a power-set heater). The
setpoint ramps at a set rate in K/min; a temperature limit (TLIMIT) on any node switches every
heater off.

Nothing runs in the background: the model integrates lazily up to `clock.now()` whenever
anything is read or changed, in internal steps of at most `max_step_s` (0.1 s — the controller's
update period), with a linearised implicit step that stays stable for the tiny heat capacity of
copper near 4 K. On the virtual clock an hour of cryostat time costs a few tenths of a second
of CPU. Integration is guarded by a lock, so the world may read the sample temperature from
another thread than the instrument's.
"""

from __future__ import annotations

import bisect
import enum
import math
import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .clock import Clock

PLATFORM = "platform"
SAMPLE = "sample"
NODES = (PLATFORM, SAMPLE)

#: Fractions of the maximum heater power for ranges Off, Low, Medium, High.
RANGE_POWER_FRACTIONS = (0.0, 0.01, 0.1, 1.0)

ROOM_TEMPERATURE_K = 295.0


# --- material properties and cold sources -----------------------------------------------------

def _interp(x: float, xs: Sequence[float], ys: Sequence[float]) -> tuple[float, float]:
    """Piecewise-linear value and slope at x; linear extrapolation past both ends."""
    i = bisect.bisect_right(xs, x) - 1
    i = min(max(i, 0), len(xs) - 2)
    slope = (ys[i + 1] - ys[i]) / (xs[i + 1] - xs[i])
    return ys[i] + slope * (x - xs[i]), slope


#: Specific heat of copper, J/(kg·K), at temperatures in K (standard tabulated values, rounded).
_COPPER_SPECIFIC_HEAT = (
    (1.0, 0.012), (4.0, 0.09), (10.0, 0.86), (20.0, 7.7), (30.0, 27.0), (50.0, 99.0),
    (77.0, 192.0), (100.0, 254.0), (150.0, 323.0), (200.0, 356.0), (300.0, 385.0),
    (500.0, 412.0),
)
_CU_LOG_T = tuple(math.log(t) for t, _ in _COPPER_SPECIFIC_HEAT)
_CU_LOG_C = tuple(math.log(c) for _, c in _COPPER_SPECIFIC_HEAT)


def copper_heat_capacity(mass_kg: float) -> Callable[[float], float]:
    """Heat capacity (J/K) of `mass_kg` of copper as a function of temperature (log-log
    interpolation: C ∝ T³ at the bottom, flat above ~200 K)."""
    if mass_kg <= 0:
        raise ValueError(f"mass must be positive, got {mass_kg} kg")

    def heat_capacity_J_K(temperature_K: float) -> float:
        log_c, _ = _interp(math.log(max(temperature_K, 0.5)), _CU_LOG_T, _CU_LOG_C)
        return mass_kg * math.exp(log_c)

    return heat_capacity_J_K


class ColdSource:
    """Something that removes heat from the platform: `power_W(T)` and its slope."""

    def power_W(self, temperature_K: float) -> float:
        raise NotImplementedError

    def slope_W_K(self, temperature_K: float) -> float:
        raise NotImplementedError

    def power_and_slope(self, temperature_K: float) -> tuple[float, float]:
        """`power_W` and `slope_W_K` at once (what an integration step needs)."""
        return self.power_W(temperature_K), self.slope_W_K(temperature_K)

    @property
    def base_K(self) -> float:
        """Temperature at which it removes nothing."""
        raise NotImplementedError


@dataclass(frozen=True)
class Cryocooler(ColdSource):
    """Net cooling power at the platform of a closed-cycle (GM / pulse-tube) cryostat.

    `curve` is (platform temperature K, cooling power W), rising from zero at the base
    temperature. The default describes a 4 K cold head seen through the thermal impedance of
    a variable-temperature stage (≈0.3 W at 4.2 K, ≈0.17 W/K higher up, so a 50 W heater
    reaches room temperature). Below the base it removes nothing. Figures are typical, not
    any one model's datasheet.
    """

    curve: tuple[tuple[float, float], ...] = (
        (3.2, 0.0), (4.2, 0.3), (10.0, 1.5), (20.0, 3.5), (50.0, 9.0), (100.0, 18.0),
        (200.0, 34.0), (300.0, 50.0),
    )

    def __post_init__(self) -> None:
        temps = [t for t, _ in self.curve]
        powers = [p for _, p in self.curve]
        if len(temps) < 2 or temps != sorted(temps) or powers[0] != 0.0:
            raise ValueError("cooling curve needs ≥2 points, rising T, zero power at the base")
        object.__setattr__(self, "_temps", tuple(temps))
        object.__setattr__(self, "_powers", tuple(powers))

    @property
    def base_K(self) -> float:
        return self.curve[0][0]

    def power_and_slope(self, temperature_K: float) -> tuple[float, float]:
        """One interpolation of the curve: the power and its slope (both 0 below the base)."""
        if temperature_K <= self.base_K:
            return 0.0, 0.0
        return _interp(temperature_K, self._temps, self._powers)  # type: ignore[attr-defined]

    def power_W(self, temperature_K: float) -> float:
        return self.power_and_slope(temperature_K)[0]

    def slope_W_K(self, temperature_K: float) -> float:
        return self.power_and_slope(temperature_K)[1]


@dataclass(frozen=True)
class LiquidNitrogenBath(ColdSource):
    """A stage coupled to boiling nitrogen (77.35 K at 1 atm) through a fixed conductance:
    it cools a warmer platform and warms a colder one."""

    bath_K: float = 77.35
    conductance_W_K: float = 0.15

    @property
    def base_K(self) -> float:
        return self.bath_K

    def power_W(self, temperature_K: float) -> float:
        return self.conductance_W_K * (temperature_K - self.bath_K)

    def slope_W_K(self, temperature_K: float) -> float:
        return self.conductance_W_K


# --- heaters ----------------------------------------------------------------------------------

class ControlMode(enum.IntEnum):
    """Lake Shore OUTMODE modes (zone, monitor and warm-up are not modelled: zone acts as
    closed loop, the other two as off)."""

    OFF = 0
    CLOSED_LOOP = 1
    ZONE = 2
    OPEN_LOOP = 3
    MONITOR_OUT = 4
    WARMUP_SUPPLY = 5


class HeaterFault(enum.IntEnum):
    """Heater error codes as HTRST? reports them."""

    NONE = 0
    OPEN = 1
    SHORT = 2


class HeaterLoop:
    """One heater output: PID (Lake Shore law), open loop or off; ranges; setpoint ramp.

    `heater_node` is where the power goes, `control_node` the node whose temperature the loop
    reads (None: no feedback). The instrument that owns the loop sets `control_valid` False
    when its control sensor has failed; the output is then held at zero, as a controller does
    when its input reading is invalid.
    """

    def __init__(
        self,
        name: str,
        *,
        max_power_W: float,
        heater_node: str = PLATFORM,
        control_node: str | None = PLATFORM,
        range_fractions: Sequence[float] = RANGE_POWER_FRACTIONS,
        P: float = 50.0,
        I: float = 20.0,  # noqa: E741 - the manuals' name
        D: float = 0.0,
        linear_power: bool = False,
    ) -> None:
        if heater_node not in NODES or (control_node is not None and control_node not in NODES):
            raise ValueError(f"nodes must be among {NODES}")
        self.name = name
        self.max_power_W = float(max_power_W)
        self.heater_node = heater_node
        self.control_node = control_node
        self.range_fractions = tuple(range_fractions)
        self.P, self.I, self.D = float(P), float(I), float(D)
        #: False: output % of full-scale current (power ∝ out², a current source as on the
        #: Lake Shore); True: output % of full-scale power.
        self.linear_power = linear_power
        self.mode = ControlMode.CLOSED_LOOP
        self.range = 0
        self.manual_percent = 0.0
        self.target_setpoint_K = 0.0
        self.setpoint_now_K = 0.0
        self.ramp_enabled = False
        self.ramp_rate_K_min = 0.0
        self.control_valid = True
        self.output_percent = 0.0
        self.fault = HeaterFault.NONE  # physical state of the heater wiring
        self.latched_fault = HeaterFault.NONE  # what HTRST? reports (cleared when read)
        self._integral_percent = 0.0
        self._last_error: float | None = None

    # --- settings (the instrument calls these) ------------------------------------------------
    @property
    def ranges(self) -> int:
        return len(self.range_fractions)

    def set_range(self, index: int) -> None:
        if not 0 <= index < self.ranges:
            raise ValueError(f"range {index} outside 0..{self.ranges - 1}")
        if index > 0 and self.fault != HeaterFault.NONE:
            self.latched_fault = self.fault  # the output trips at once
            index = 0
        if index == 0:
            self._reset_integrator()
        self.range = index

    def set_setpoint(self, setpoint_K: float, current_reading_K: float | None) -> None:
        """New target; with ramping on it is approached at the ramp rate from the present
        setpoint, or from the present reading when the heater is off."""
        self.target_setpoint_K = float(setpoint_K)
        if not (self.ramp_enabled and self.ramp_rate_K_min > 0):
            self.setpoint_now_K = self.target_setpoint_K
        elif (self.range == 0 or self.mode == ControlMode.OFF) and current_reading_K is not None:
            self.setpoint_now_K = current_reading_K

    def set_ramp(self, enabled: bool, rate_K_min: float) -> None:
        self.ramp_enabled = bool(enabled)
        self.ramp_rate_K_min = float(rate_K_min)
        if not (self.ramp_enabled and self.ramp_rate_K_min > 0):
            self.setpoint_now_K = self.target_setpoint_K

    def set_pid(self, P: float, I: float, D: float) -> None:  # noqa: E741
        self.P, self.I, self.D = float(P), float(I), float(D)

    def set_mode(self, mode: int) -> None:
        self.mode = ControlMode(mode)
        if self.mode in (ControlMode.OFF, ControlMode.MONITOR_OUT, ControlMode.WARMUP_SUPPLY):
            self._reset_integrator()

    def inject_fault(self, fault: HeaterFault) -> None:
        """Break (or repair, with NONE) the heater wiring. A broken heater that is on trips."""
        self.fault = HeaterFault(fault)
        if self.fault != HeaterFault.NONE and self.range > 0:
            self.latched_fault = self.fault
            self.range = 0
            self._reset_integrator()

    def read_fault(self) -> HeaterFault:
        """What HTRST? answers; reading clears the latched code."""
        code = self.latched_fault
        self.latched_fault = HeaterFault.NONE
        return code

    # --- state --------------------------------------------------------------------------------
    @property
    def ramping(self) -> bool:
        return (self.ramp_enabled and self.ramp_rate_K_min > 0
                and self.setpoint_now_K != self.target_setpoint_K)

    @property
    def range_power_W(self) -> float:
        return self.max_power_W * self.range_fractions[self.range]

    @property
    def power_W(self) -> float:
        """Power dissipated now."""
        if self.fault != HeaterFault.NONE:
            return 0.0
        fraction = self.output_percent / 100.0
        return self.range_power_W * (fraction if self.linear_power else fraction ** 2)

    @property
    def integral_time_s(self) -> float:
        return 1000.0 / self.I if self.I > 0 else math.inf

    @property
    def derivative_time_s(self) -> float:
        return (self.D / 100.0) * self.integral_time_s / 4.0 if self.I > 0 else 0.0

    def _reset_integrator(self) -> None:
        self._integral_percent = 0.0
        self._last_error = None
        self.output_percent = 0.0

    def switch_off(self) -> None:
        """What a temperature-limit trip does: range Off."""
        self.range = 0
        self._reset_integrator()

    # --- one controller update ----------------------------------------------------------------
    def update(self, dt_s: float, reading_K: float | None) -> None:
        """Advance the ramp and compute the output for the next `dt_s`."""
        if self.ramping:
            step = self.ramp_rate_K_min / 60.0 * dt_s
            gap = self.target_setpoint_K - self.setpoint_now_K
            self.setpoint_now_K = (self.target_setpoint_K if abs(gap) <= step
                                   else self.setpoint_now_K + math.copysign(step, gap))
        if self.range == 0 or self.fault != HeaterFault.NONE or self.mode in (
                ControlMode.OFF, ControlMode.MONITOR_OUT, ControlMode.WARMUP_SUPPLY):
            self.output_percent = 0.0
            return
        if self.mode == ControlMode.OPEN_LOOP:
            self.output_percent = min(max(self.manual_percent, 0.0), 100.0)
            return
        if reading_K is None or not self.control_valid:
            self._reset_integrator()
            return
        error = self.setpoint_now_K - reading_K
        derivative = 0.0
        if self._last_error is not None and dt_s > 0:
            derivative = (error - self._last_error) / dt_s
        self._last_error = error
        proportional_derivative = self.P * (error + self.derivative_time_s * derivative)
        unclamped = proportional_derivative + self._integral_percent + self.manual_percent
        # Integrate unless the output is pinned and the error would push it further.
        if self.I > 0 and not ((unclamped >= 100.0 and error > 0)
                               or (unclamped <= 0.0 and error < 0)):
            self._integral_percent += self.P * error * dt_s / self.integral_time_s
            self._integral_percent = min(max(self._integral_percent, -100.0), 100.0)
        out = proportional_derivative + self._integral_percent + self.manual_percent
        self.output_percent = min(max(out, 0.0), 100.0)


# --- the stage --------------------------------------------------------------------------------

@dataclass
class TemperatureLimit:
    """An over-temperature cut-off: when `node` exceeds `limit_K` every heater goes off."""

    node: str
    limit_K: float


class ThermalStage:
    """Platform and sample of one cryostat, integrated lazily on the bench clock.

    Read `platform_K` / `sample_K` (or `temperature_K(node)`); they first bring the model up
    to `clock.now()`. Instruments add their `HeaterLoop`s with `add_loop` and may set
    over-temperature limits with `set_limit`.
    """

    def __init__(
        self,
        clock: Clock,
        *,
        cold_source: ColdSource | None = None,
        platform_heat_capacity: float | Callable[[float], float] | None = None,
        sample_heat_capacity: float | Callable[[float], float] | None = None,
        sample_link_W_K: float = 0.2,
        ambient_conductance_W_K: float = 2.5e-4,
        sample_ambient_conductance_W_K: float = 5e-6,
        ambient_K: float = ROOM_TEMPERATURE_K,
        heater_lag_s: float = 5.0,
        initial_K: float | None = None,
        max_step_s: float = 0.1,
        history_s: float = 0.0,
    ) -> None:
        if max_step_s <= 0 or sample_link_W_K <= 0:
            raise ValueError("max_step_s and sample_link_W_K must be positive")
        self.clock = clock
        self.cold_source = cold_source if cold_source is not None else Cryocooler()
        self._capacity = {
            PLATFORM: platform_heat_capacity if platform_heat_capacity is not None
            else copper_heat_capacity(0.3),
            SAMPLE: sample_heat_capacity if sample_heat_capacity is not None
            else copper_heat_capacity(0.02),
        }
        self.sample_link_W_K = sample_link_W_K
        self.ambient_conductance_W_K = ambient_conductance_W_K
        self.sample_ambient_conductance_W_K = sample_ambient_conductance_W_K
        self.ambient_K = ambient_K
        self.heater_lag_s = heater_lag_s
        self.max_step_s = max_step_s
        self.cooling_enabled = True
        #: Heat reaching each node from its heaters: the commanded power through a first-order
        #: lag (heater body and its interface), the source of overshoot under aggressive gains.
        self._delivered_W = {PLATFORM: 0.0, SAMPLE: 0.0}
        #: Heat from outside the cryostat's own heaters (e.g. absorbed pump light), W per node.
        self._external_W = {PLATFORM: 0.0, SAMPLE: 0.0}
        self._lock = threading.RLock()
        self.loops: list[HeaterLoop] = []
        self.limits: dict[str, TemperatureLimit] = {}
        #: Label of the limit that tripped most recently (None: none has tripped).
        self.tripped: str | None = None
        if initial_K is None:
            initial_K = self.equilibrium_K()
        self._T = {PLATFORM: float(initial_K), SAMPLE: float(initial_K)}
        self._t = clock.now()
        self._history_s = history_s
        self._history: deque[tuple[float, float, float]] = deque()
        self._next_sample_t = self._t

    # --- presets ------------------------------------------------------------------------------
    @classmethod
    def closed_cycle(cls, clock: Clock, **kwargs) -> ThermalStage:
        """A 4 K closed-cycle cryostat with a variable-temperature stage (the default)."""
        return cls(clock, cold_source=Cryocooler(), **kwargs)

    @classmethod
    def liquid_nitrogen(cls, clock: Clock, **kwargs) -> ThermalStage:
        """A nitrogen-bath cryostat (77 K base)."""
        return cls(clock, cold_source=LiquidNitrogenBath(), **kwargs)

    # --- set-up -------------------------------------------------------------------------------
    def add_loop(self, loop: HeaterLoop) -> HeaterLoop:
        self.advance()
        self.loops.append(loop)
        return loop

    def set_limit(self, label: str, node: str, limit_K: float) -> None:
        """Over-temperature cut-off on `node` under `label` (an instrument input); 0 removes it."""
        self.advance()
        if node not in NODES:
            raise ValueError(f"unknown node {node!r}")
        if limit_K <= 0:
            self.limits.pop(label, None)
        else:
            self.limits[label] = TemperatureLimit(node, float(limit_K))

    def set_external_heat(self, node: str, power_W: float) -> None:
        """Heat deposited on `node` from outside (e.g. pump light absorbed by the sample)."""
        if node not in NODES:
            raise ValueError(f"unknown node {node!r}")
        self.advance()
        self._external_W[node] = float(power_W)

    def set_cooling(self, enabled: bool) -> None:
        """Cold head running or stopped (a stopped cooler lets the cryostat warm up)."""
        self.advance()
        self.cooling_enabled = bool(enabled)

    # --- reading ------------------------------------------------------------------------------
    def heat_capacity_J_K(self, node: str, temperature_K: float | None = None) -> float:
        capacity = self._capacity[node]
        t = self._T[node] if temperature_K is None else temperature_K
        return float(capacity(t)) if callable(capacity) else float(capacity)

    def temperature_K(self, node: str = SAMPLE) -> float:
        self.advance()
        return self._T[node]

    @property
    def platform_K(self) -> float:
        return self.temperature_K(PLATFORM)

    @property
    def sample_K(self) -> float:
        return self.temperature_K(SAMPLE)

    def equilibrium_K(self) -> float:
        """Temperature both nodes settle at with every heater off (bisection on the heat
        balance of the platform: cooling = leak + ambient conduction)."""
        g_leak = self.ambient_conductance_W_K + self.sample_ambient_conductance_W_K

        def net(t: float) -> float:
            cooling = self.cold_source.power_W(t) if self.cooling_enabled else 0.0
            return cooling - g_leak * (self.ambient_K - t)

        low, high = 0.5, 2000.0
        if net(low) >= 0:
            return low
        for _ in range(80):
            mid = 0.5 * (low + high)
            low, high = (low, mid) if net(mid) >= 0 else (mid, high)
        return 0.5 * (low + high)

    def history(self, seconds: float) -> list[tuple[float, float, float]]:
        """(t, platform K, sample K) sampled once a second over the last `seconds` (needs
        `history_s` ≥ seconds at construction)."""
        self.advance()
        start = self._t - seconds
        return [h for h in self._history if h[0] >= start - 1e-9]

    # --- integration --------------------------------------------------------------------------
    def advance(self) -> None:
        """Integrate up to `clock.now()`."""
        with self._lock:
            target = self.clock.now()
            while self._t < target - 1e-12:
                dt = min(self.max_step_s, target - self._t)
                self._step(dt)
                self._t += dt
                if self._history_s > 0 and self._t >= self._next_sample_t - 1e-9:
                    self._history.append((self._t, self._T[PLATFORM], self._T[SAMPLE]))
                    self._next_sample_t = max(self._next_sample_t + 1.0, self._t + 0.5)
                    while self._history and self._history[0][0] < self._t - self._history_s:
                        self._history.popleft()

    def _step(self, dt: float) -> None:
        T = self._T
        heat = {PLATFORM: 0.0, SAMPLE: 0.0}
        for loop in self.loops:
            reading = T[loop.control_node] if loop.control_node is not None else None
            loop.update(dt, reading)
            heat[loop.heater_node] += loop.power_W
        if self.heater_lag_s > 0:
            alpha = 1.0 - math.exp(-dt / self.heater_lag_s)
            for node in NODES:
                self._delivered_W[node] += alpha * (heat[node] - self._delivered_W[node])
            heat = dict(self._delivered_W)
        for node in NODES:
            heat[node] += self._external_W[node]
        t_p, t_s = T[PLATFORM], T[SAMPLE]
        g_link = self.sample_link_W_K
        g_amb = self.ambient_conductance_W_K

        # Linearised implicit (backward Euler) step per node: stable for any dt.
        cooling, g_cool = (self.cold_source.power_and_slope(t_p) if self.cooling_enabled
                           else (0.0, 0.0))
        flow_p = (heat[PLATFORM] - cooling + g_link * (t_s - t_p)
                  + g_amb * (self.ambient_K - t_p))
        c_p = self.heat_capacity_J_K(PLATFORM, t_p)
        t_p_new = t_p + dt * flow_p / (c_p + dt * (max(g_cool, 0.0) + g_link + g_amb))

        g_samp = self.sample_ambient_conductance_W_K
        flow_s = heat[SAMPLE] + g_link * (t_p_new - t_s) + g_samp * (self.ambient_K - t_s)
        c_s = self.heat_capacity_J_K(SAMPLE, t_s)
        t_s_new = t_s + dt * flow_s / (c_s + dt * (g_link + g_samp))

        T[PLATFORM], T[SAMPLE] = max(t_p_new, 0.1), max(t_s_new, 0.1)

        for label, limit in self.limits.items():
            if T[limit.node] > limit.limit_K:
                for loop in self.loops:
                    if loop.range > 0:
                        loop.switch_off()
                self.tripped = label
