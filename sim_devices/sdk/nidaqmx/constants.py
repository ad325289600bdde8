"""The enumerations of `nidaqmx.constants` that the simulated card understands.

Names and values are those of the NI-DAQmx C API that nidaqmx-python exposes, so a driver that
stores or compares them behaves the same over the simulated and the real module.
"""

from __future__ import annotations

from enum import Enum


class AcquisitionType(Enum):
    FINITE = 10178
    CONTINUOUS = 10123
    HW_TIMED_SINGLE_POINT = 12522


class CountDirection(Enum):
    COUNT_UP = 10128
    COUNT_DOWN = 10124
    EXTERNAL_SOURCE = 10326


class Edge(Enum):
    RISING = 10280
    FALLING = 10171


class Level(Enum):
    HIGH = 10192
    LOW = 10214


class TriggerType(Enum):
    ANALOG_LEVEL = 10101
    DIGITAL_LEVEL = 10152
    DIGITAL_PATTERN = 10398
    NONE = 10230


class TimeUnits(Enum):
    SECONDS = 10364
    TICKS = 10304
    FROM_CUSTOM_SCALE = 10065


class VoltageUnits(Enum):
    VOLTS = 10348
    FROM_CUSTOM_SCALE = 10065


#: `number_of_samples_per_channel` default of the stream readers: all samples available.
READ_ALL_AVAILABLE = -1
