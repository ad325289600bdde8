"""ScpiVocabulary: every legal spelling of a SCPI command maps to one normalized node path."""

from __future__ import annotations

import pytest

from sim_devices.instruments.scpi import ParsedCommand, ScpiVocabulary, esr_bit_for_error, short_form


@pytest.fixture
def vocab() -> ScpiVocabulary:
    return ScpiVocabulary(
        ["*IDN", "*RST", "SYSTem", "ERRor", "SENSe", "CORRection", "WAVelength", "MEASure",
         "POWer", "SOURce", "VOLTage", "LEVel"],
        optional=("SENS",),
    )


@pytest.mark.parametrize(("manual", "short"), [("SENSe", "SENS"), ("CORRection", "CORR"),
                                                ("WAVelength", "WAV"), ("*IDN", "*IDN"),
                                                ("READ", "READ"), ("DC", "DC")])
def test_short_form_keeps_the_upper_case_letters_of_manual_notation(manual, short):
    assert short_form(manual) == short


@pytest.mark.parametrize("spelling", ["SENS:CORR:WAV 1064", "SENSE:CORRECTION:WAVELENGTH 1064",
                                      "sens:corr:wav 1064", "Sense:Correction:Wavelength 1064"])
def test_short_and_long_spellings_in_any_case_parse_alike(vocab, spelling):
    assert vocab.parse(spelling) == ParsedCommand(("CORR", "WAV"), False, ("1064",))


@pytest.mark.parametrize("spelling", ["CORRE:WAV?", "CORREC:WAVEL?", "CORRECTIO:WAVELENGT?"])
def test_intermediate_spellings_between_short_and_long_are_unknown(vocab, spelling):
    # IEEE 488.2 / SCPI: only the short and the long form are valid headers.
    assert vocab.parse(spelling) is None


@pytest.mark.parametrize("spelling", ["COR:WAV?", "CORRECTIONS:WAV?", "CORR:WA?"])
def test_spellings_shorter_than_short_or_longer_than_long_are_unknown(vocab, spelling):
    assert vocab.parse(spelling) is None


def test_optional_leading_node_may_be_left_out(vocab):
    assert vocab.parse("SENS:CORR:WAV?") == vocab.parse("CORR:WAV?")
    assert vocab.parse("CORR:WAV?").path == ("CORR", "WAV")


def test_optional_node_is_kept_when_it_is_the_only_node(vocab):
    assert vocab.parse("SENS?").path == ("SENS",)


def test_optional_node_is_only_dropped_at_the_start(vocab):
    assert vocab.parse("SYST:SENS:ERR?").path == ("SYST", "SENS", "ERR")


def test_leading_colon_is_ignored(vocab):
    assert vocab.parse(":SYST:ERR?") == vocab.parse("SYST:ERR?")


def test_numeric_suffix_1_equals_no_suffix(vocab):
    assert vocab.parse("SOUR1:VOLT:LEV 5") == vocab.parse("SOUR:VOLT:LEV 5")
    assert vocab.parse("SOURCE1:VOLTAGE:LEVEL 5").path == ("SOUR", "VOLT", "LEV")


def test_numeric_suffix_other_than_1_is_kept(vocab):
    assert vocab.parse("SOURCE2:VOLT 5").path == ("SOUR2", "VOLT")


def test_optional_node_with_suffix_1_is_still_optional(vocab):
    assert vocab.parse("SENS1:CORR:WAV?").path == ("CORR", "WAV")


def test_unknown_node_gives_none(vocab):
    assert vocab.parse("FOO:BAR 1") is None
    assert vocab.parse("SYST:FOO?") is None


def test_query_flag_is_set_by_a_trailing_question_mark(vocab):
    assert vocab.parse("SYST:ERR?").is_query is True
    assert vocab.parse("*RST").is_query is False


def test_query_arguments_are_kept(vocab):
    parsed = vocab.parse("SENS:CORR:WAV? MIN")
    assert parsed == ParsedCommand(("CORR", "WAV"), True, ("MIN",))


def test_comma_separated_arguments_are_split_and_stripped(vocab):
    assert vocab.parse("SOUR:VOLT 1.5, 2 ,ON").args == ("1.5", "2", "ON")


def test_command_without_arguments_has_empty_args(vocab):
    assert vocab.parse("*RST").args == ()
    assert vocab.parse("MEAS:POW?").args == ()


def test_common_commands_with_asterisk_parse(vocab):
    assert vocab.parse("*IDN?") == ParsedCommand(("*IDN",), True, ())
    assert vocab.parse("*rst") == ParsedCommand(("*RST",), False, ())


def test_surrounding_whitespace_is_ignored(vocab):
    assert vocab.parse("  MEAS:POW?  ") == vocab.parse("MEAS:POW?")


# --- IEEE 488.2 status registers shared by the twins ----------------------------------------------

@pytest.mark.parametrize(("code", "bit"), [(-113, 32), (-109, 32), (-222, 16), (-241, 16),
                                           (-350, 8), (7, 8), (-410, 4), (0, 0)])
def test_each_scpi_error_class_sets_its_standard_event_bit(code, bit):
    assert esr_bit_for_error(code) == bit


def _meter():
    from sim_devices.instruments.thorlabs_pm100 import SimThorlabsPM100
    from sim_devices.world import SimWorld

    return SimThorlabsPM100(SimWorld(seed=1))


def test_status_byte_shows_the_queue_until_it_is_read_and_the_event_until_esr_is_read():
    meter = _meter()
    assert meter.handle("*STB?") == "0"
    meter.handle("SENS:CORR:WAV 5000")  # -222: execution error, queued
    assert meter.handle("*STB?") == "4"  # EAV only: ESE masks the event
    meter.handle("*ESE 16")
    assert meter.handle("*STB?") == str(4 | 32)
    meter.handle("SYST:ERR?")
    assert meter.handle("*STB?") == "32"
    assert meter.handle("*ESR?") == "16"
    assert meter.handle("*STB?") == "0"


def test_service_request_enable_ignores_bit_6_and_sets_mss_from_enabled_bits():
    meter = _meter()
    meter.handle("*SRE 255")
    assert meter.handle("*SRE?") == "191"
    meter.handle("FOO")
    assert meter.handle("*STB?") == str(4 | 64)


@pytest.mark.parametrize("command", ["*ESE 256", "*ESE -1", "*ESE 1.5", "*SRE", "*ESE x"])
def test_bad_register_values_are_refused_and_queued(command):
    meter = _meter()
    meter.handle(command)
    assert meter.handle("*ESE?") == "0" and meter.handle("*SRE?") == "0"
    assert meter.handle("SYST:ERR?") != '+0,"No error"'


def test_common_commands_in_long_form_and_lower_case_reach_the_shared_handlers():
    meter = _meter()
    assert meter.handle("*tst?") == "0"
    assert meter.handle("*wai") is None
    meter.handle("*opc")
    assert meter.handle("*esr?") == "1"
    assert meter.handle("SYST:ERR?") == '+0,"No error"'


def test_cld_twin_shares_the_status_byte_and_a_refused_laser_start_shows_in_it():
    from sim_devices.clock import VirtualClock
    from sim_devices.instruments.thorlabs_cld import SimThorlabsCLD

    laser = SimThorlabsCLD(VirtualClock(), wavelength_nm=852.0, current_limit_A=0.25,
                           threshold_current_A=0.035, slope_efficiency_W_A=0.8,
                           max_current_A=0.25)
    laser.handle("*SRE 4")
    laser.handle("OUTP:STAT ON")  # refused: the TEC is off
    assert int(laser.handle("*STB?")) == 4 | 64
    laser.handle("*CLS")
    assert laser.handle("*STB?") == "0" and laser.handle("*TST?") == "0"
