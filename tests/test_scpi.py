"""ScpiVocabulary: every legal spelling of a SCPI command maps to one normalized node path."""

from __future__ import annotations

import pytest

from sim_devices.instruments.scpi import ParsedCommand, ScpiVocabulary, short_form


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
