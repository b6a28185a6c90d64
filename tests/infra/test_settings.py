"""Configuration is read once, validated, and a bad value names its key and what it accepts."""

from __future__ import annotations

import dataclasses
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from prod_serverless.settings import (
    REGIONS,
    SETTING_KEYS,
    SETTINGS,
    Settings,
    SettingsError,
    app_context,
    cdk_json_context,
    configured,
    parse_pairs,
)
from tests.conftest import background_result


def settings_from(**context: Any) -> Settings:
    return Settings.from_context(context)


def test_defaults_are_the_production_values() -> None:
    settings = settings_from()
    assert settings == Settings()
    assert settings.log_retention_days == 30
    assert settings.reserved_concurrency is None
    assert settings.cors_allowed_origins == ()
    assert settings.alarm_email is None


def test_every_settings_field_has_exactly_one_context_key() -> None:
    fields = [f.name for f in dataclasses.fields(Settings)]
    assert sorted(spec.field for spec in SETTINGS) == sorted(fields)
    keys = [spec.key for spec in SETTINGS]
    assert len(keys) == len(set(keys))


def test_command_line_strings_are_parsed() -> None:
    settings = settings_from(
        logRetentionDays="90",
        firehoseBufferSeconds="60",
        logLevel="debug",
        reservedConcurrency="5",
        corsAllowedOrigins="https://a.example.com, https://b.example.com:8443",
        alarmEmail=" ops@example.com ",
    )
    assert settings.log_retention_days == 90
    assert settings.firehose_buffer_seconds == 60
    assert settings.log_level == "DEBUG"
    assert settings.reserved_concurrency == 5
    assert settings.cors_allowed_origins == ("https://a.example.com", "https://b.example.com:8443")
    assert settings.alarm_email == "ops@example.com"


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("logRetentionDays", "8", "'logRetentionDays' must be one of 1, 3, 5, 7, 14, 30"),
        ("logRetentionDays", True, "'logRetentionDays' must be one of"),
        ("logLevel", "TRACE", "'logLevel' must be one of DEBUG, INFO, WARN, ERROR"),
        ("firehoseBufferSeconds", "901", "'firehoseBufferSeconds' must be a whole number from 0 to 900"),
        ("firehoseBufferMiB", "0", "'firehoseBufferMiB' must be a whole number from 1 to 128"),
        ("firehoseBufferMiB", "five", "'firehoseBufferMiB' must be a whole number from 1 to 128; got 'five'"),
        ("archiveInfrequentAccessDays", "29", "'archiveInfrequentAccessDays' must be a whole number from 30"),
        ("archiveExpirationDays", "30", "'archiveExpirationDays' must be"),
        ("athenaResultsExpirationDays", "-1", "'athenaResultsExpirationDays' must be a whole number from 1 to 90"),
        ("throttleRateLimit", "0", "'throttleRateLimit' must be a whole number from 1 to 10000"),
        ("reservedConcurrency", "0", "'reservedConcurrency' must be a whole number from 1 to 900"),
        ("functionMemoryMb", "100", "'functionMemoryMb' must be a whole number from 128 to 10240; got 100"),
        ("functionTimeoutSeconds", "30", "'functionTimeoutSeconds' must be a whole number from 1 to 29; got 30"),
        ("region", "eu-nowhere-1", "'region' must be one of af-south-1, "),
        ("releaseIgnoreAlarms", "yes", "'releaseIgnoreAlarms' must be true or false; got 'yes'"),
        ("alarmEmail", "not-an-email", "'alarmEmail' must be one email address"),
        ("alarmEmail", "ops@example", "'alarmEmail' must be one email address"),
        ("corsAllowedOrigins", "*", "'corsAllowedOrigins' must list exact origins"),
        ("corsAllowedOrigins", "https://*.example.com", "wildcard"),
        ("corsAllowedOrigins", "example.com", "scheme://host"),
        ("environmentLabel", "Prod Env", "'environmentLabel' must match"),
    ],
)
def test_bad_values_stop_with_the_key_and_allowed_values(key: str, value: Any, message: str) -> None:
    with pytest.raises(SettingsError, match=message.replace("(", r"\(").replace("*", r"\*")):
        settings_from(**{key: value})


@pytest.mark.parametrize("key", ["alarmEmail", "reservedConcurrency", "logLevel", "corsAllowedOrigins"])
@pytest.mark.parametrize("empty", ["", "  ", None])
def test_an_empty_value_is_an_error_naming_the_key(key: str, empty: Any) -> None:
    with pytest.raises(SettingsError, match=f"context key '{key}' is empty; give .*, or leave the key out"):
        settings_from(**{key: empty})


@pytest.mark.parametrize(
    ("typo", "suggestion"),
    [("alarmEmal", "alarmEmail"), ("logleve", "logLevel"), ("environmentName", "environmentLabel")],
)
def test_an_unknown_key_is_refused_with_the_closest_valid_name(typo: str, suggestion: str) -> None:
    with pytest.raises(SettingsError, match=f"unknown context key '{typo}': did you mean '{suggestion}'\\?"):
        settings_from(**{typo: "x"})


def test_an_unknown_key_without_a_close_match_lists_the_valid_keys() -> None:
    with pytest.raises(SettingsError, match=f"unknown context key 'zzz': valid keys are {', '.join(SETTING_KEYS)}"):
        settings_from(zzz="1")


def test_the_cdks_own_context_keys_are_left_alone() -> None:
    context = {
        "@aws-cdk/core:enablePartitionLiterals": True,
        "aws:cdk:enable-path-metadata": True,
        "availability-zones:account=123456789012:region=us-east-1": ["us-east-1a"],
    }
    assert Settings.from_context(context) == Settings()


def test_expiry_must_follow_the_transition() -> None:
    with pytest.raises(
        SettingsError, match="'archiveExpirationDays' must be greater than 'archiveInfrequentAccessDays'"
    ):
        settings_from(archiveInfrequentAccessDays="90", archiveExpirationDays="60")


def test_freshness_alarm_must_exceed_the_buffer_interval() -> None:
    with pytest.raises(SettingsError, match="'firehoseFreshnessSeconds' must be greater than 'firehoseBufferSeconds'"):
        settings_from(firehoseBufferSeconds="600", firehoseFreshnessSeconds="300")


@pytest.mark.background("bad-context-synth")
def test_synth_stops_with_one_line_on_bad_context_and_a_typo() -> None:
    """As the CLI runs the app (CDK_CONTEXT_JSON, a fresh interpreter): one line, never a traceback."""
    result = background_result("bad-context-synth")  # started at collection: tests/conftest.py
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        "Configuration error: unknown context key 'alarmEmal': did you mean 'alarmEmail'? "
        "valid keys are " + ", ".join(spec.key for spec in SETTINGS)
    )
    assert "Traceback" not in result.stderr


def test_the_clis_context_is_layered_over_the_apps_as_app_reads_it(tmp_path: Path) -> None:
    overflow = tmp_path / "context.json"
    overflow.write_text(json.dumps({"logLevel": "DEBUG", "stage": "pr7"}))
    props = {"region": "eu-west-1", "logLevel": "WARN", "tracing": "Active"}
    assert app_context(props, {}) == props
    environ = {"CDK_CONTEXT_JSON": json.dumps({"logLevel": "ERROR", "stage": "dev"})}
    assert app_context(props, environ) == {**props, "logLevel": "ERROR", "stage": "dev"}
    environ["CONTEXT_OVERFLOW_LOCATION_ENV"] = str(overflow)
    assert app_context(props, environ) == {**props, "logLevel": "DEBUG", "stage": "pr7"}
    assert props == {"region": "eu-west-1", "logLevel": "WARN", "tracing": "Active"}  # the caller's, untouched


@pytest.mark.parametrize(
    ("environ", "line"),
    [
        (
            {"CONTEXT": "stage=Dev"},
            "Configuration error: context key 'stage' must match [a-z][a-z0-9]{0,11}; got 'Dev'",
        ),
        ({"CDK_CONTEXT_JSON": '{"tracng": "Active"}'}, "Configuration error: unknown context key 'tracng': did you"),
        ({"CONTEXT": "logLevel"}, "Configuration error: CONTEXT: 'logLevel' is not key=value"),
    ],
)
def test_synths_early_check_refuses_the_settings_in_its_one_line(environ: dict[str, str], line: str) -> None:
    from prod_serverless import early

    with pytest.raises(SystemExit) as stopped:
        early.check(environ)
    assert str(stopped.value.code).startswith(line)


def test_synths_early_check_refuses_a_malformed_route_row_in_its_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from prod_serverless import early

    (tmp_path / "broken_routes.py").write_text(
        "from service.routing import Healthy, Route\n"
        "ROUTES = (Route('GET', '/items/', print, summary='s', public='p', healthy=Healthy(200)),)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(early, "ROUTES", "broken_routes")
    with pytest.raises(SystemExit) as stopped:
        early.check({})
    assert stopped.value.code == (
        "Route table error (service/routes.py): route GET '/items/': path must start with '/' and not end with one, "
        "e.g. /items/{id}"
    )


def test_synths_early_check_passes_the_default_and_loads_no_cdk() -> None:
    """main.py runs it before its CDK imports: it must not load them itself, or it saves nothing."""
    code = (
        "import sys; from prod_serverless import early; early.check({}); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('aws_cdk', 'jsii', 'constructs')))"
    )
    root = Path(__file__).resolve().parent.parent.parent
    done = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout, done.stderr) == (0, "[]\n", "")


def test_the_region_list_is_every_commercial_region_with_the_stacks_services() -> None:
    import boto3

    session = boto3.session.Session()
    services = ("lambda", "apigatewayv2", "firehose", "codedeploy", "athena")
    available = set.intersection(*(set(session.get_available_regions(service)) for service in services))
    assert set(REGIONS) == available


def test_suggestions_ignore_case() -> None:
    with pytest.raises(SettingsError, match="unknown context key 'ALARMEMAIL': did you mean 'alarmEmail'"):
        Settings.from_context({"ALARMEMAIL": "ops@example.com"})


@pytest.mark.parametrize(
    ("written", "parsed"),
    [
        ("", {}),
        ("logLevel=DEBUG alarmEmail=ops@example.com", {"logLevel": "DEBUG", "alarmEmail": "ops@example.com"}),
        (
            "corsAllowedOrigins='https://a.example.com, https://b.example.com'",
            {"corsAllowedOrigins": "https://a.example.com, https://b.example.com"},
        ),
        ("appVersion=1=2", {"appVersion": "1=2"}),
    ],
)
def test_context_pairs_are_read_whole(written: str, parsed: dict[str, str]) -> None:
    assert parse_pairs(written) == parsed


@pytest.mark.parametrize(
    ("written", "message"),
    [
        ("logLevel", "CONTEXT: 'logLevel' is not key=value"),  # a key alone is never dropped
        ("alarmEmail = ops@example.com", r"CONTEXT: 'alarmEmail' is not key=value \(parsed \['alarmEmail', '=', "),
        (
            "corsAllowedOrigins=https://a.example.com, https://b.example.com",
            "CONTEXT: 'https://b.example.com' is not key=value .* a list without spaces",
        ),
        ("=x", "CONTEXT: '=x' is not key=value"),
        ("a='unclosed", "CONTEXT: No closing quotation"),
        ("logLevel=DEBUG logLevel=INFO", "key 'logLevel' is given twice"),
    ],
)
def test_a_malformed_context_stops_with_one_line(written: str, message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        parse_pairs(written)


# Every relation between settings, on both sides of its boundary (each case changes one value).
@pytest.mark.parametrize(
    ("context", "message"),
    [
        (
            {"archiveInfrequentAccessDays": "40", "archiveExpirationDays": "40"},
            "'archiveExpirationDays' must be greater",
        ),
        (
            {"firehoseBufferSeconds": "600", "firehoseFreshnessSeconds": "600"},
            "'firehoseFreshnessSeconds' must be greater",
        ),
        (
            {"archiveObjectLockDays": "366", "archiveExpirationDays": "365"},
            r"^context key 'archiveObjectLockDays' must not exceed 'archiveExpirationDays' \(365\): a locked log could "
            "not expire; got 366$",
        ),
        (
            {"provisionedConcurrency": "6", "reservedConcurrency": "5"},
            r"^context key 'provisionedConcurrency' must not exceed 'reservedConcurrency' \(5\); got 6$",
        ),
    ],
)
def test_a_relation_broken_by_one_value_stops_with_its_message(context: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        Settings.from_context(context)


@pytest.mark.parametrize(
    "context",
    [
        {"archiveInfrequentAccessDays": "40", "archiveExpirationDays": "41"},
        {"firehoseBufferSeconds": "600", "firehoseFreshnessSeconds": "601"},
        {"archiveObjectLockDays": "365", "archiveExpirationDays": "365"},
        {"provisionedConcurrency": "5", "reservedConcurrency": "5"},
    ],
)
def test_a_relation_held_at_its_boundary_is_accepted(context: dict[str, str]) -> None:
    Settings.from_context(context)


@pytest.mark.parametrize(("value", "number"), [("128", 128), ("10240", 10240)])
def test_a_whole_number_at_either_end_of_its_range_is_accepted(value: str, number: int) -> None:
    assert Settings.from_context({"functionMemoryMb": value}).function_memory_mb == number


@pytest.mark.parametrize(("value", "parsed"), [("true", True), ("TRUE", True), ("False", False), (True, True)])
def test_a_flag_reads_true_and_false_in_any_case(value: Any, parsed: bool) -> None:
    assert Settings.from_context({"releaseIgnoreAlarms": value}).release_ignore_alarms is parsed


def test_a_pattern_setting_refuses_what_is_not_text() -> None:
    with pytest.raises(SettingsError, match=r"^context key 'appVersion' must match .*; got 7$"):
        Settings.from_context({"appVersion": 7})


@pytest.mark.parametrize(("value", "parsed"), [("14", 14), (14, 14)])
def test_a_one_of_setting_converts_numbers(value: Any, parsed: int) -> None:
    assert Settings.from_context({"logRetentionDays": value}).log_retention_days == parsed


def test_a_one_of_setting_refuses_what_does_not_convert() -> None:
    with pytest.raises(SettingsError, match=r"^context key 'logRetentionDays' must be one of 1, 3, 5"):
        Settings.from_context({"logRetentionDays": "fifteen"})


def test_origins_read_from_text_or_a_list_and_skip_empty_items() -> None:
    expected = ("https://a.example.com", "https://b.example.com")
    assert (
        Settings.from_context(
            {"corsAllowedOrigins": "https://a.example.com,,https://b.example.com,"}
        ).cors_allowed_origins
        == expected
    )
    assert Settings.from_context({"corsAllowedOrigins": list(expected)}).cors_allowed_origins == expected
    with pytest.raises(
        SettingsError, match=r"^context key 'corsAllowedOrigins' must be a comma-separated list of origins; got 7$"
    ):
        Settings.from_context({"corsAllowedOrigins": 7})


def test_an_empty_value_names_what_to_give_without_backticks() -> None:
    with pytest.raises(
        SettingsError, match=r"^context key 'logLevel' is empty; give DEBUG, INFO, WARN, ERROR, or leave"
    ):
        Settings.from_context({"logLevel": ""})


def test_the_cdks_own_keys_pass_and_only_they() -> None:
    Settings.from_context({"@aws-cdk/core:flag": True, "aws:cdk:x": 1})
    with pytest.raises(SettingsError, match="unknown context key 'x@y'"):
        Settings.from_context({"x@y": 1})


def test_the_suggestion_is_the_one_closest_key() -> None:
    with pytest.raises(SettingsError, match=r"^unknown context key 'logLevl': did you mean 'logLevel'\? valid keys"):
        Settings.from_context({"logLevl": "INFO"})
    with pytest.raises(SettingsError) as refused:
        Settings.from_context({"qqqqqqqq": 1})
    assert "did you mean" not in str(refused.value)


def test_a_malformed_pair_says_how_to_write_one() -> None:
    with pytest.raises(SettingsError) as refused:
        parse_pairs("x")
    assert str(refused.value).endswith(
        "write key=value with no spaces around '=', and a list without spaces (a,b) or quoted (key='a, b')"
    )


DOMAIN = "api.example.com"
CERTIFICATE = "arn:aws:acm:us-east-1:123456789012:certificate/11111111-2222-3333-4444-555555555555"
ZONE = "Z0123456789ABCDEFGHIJ"
WITH_DOMAIN = {"customDomainName": DOMAIN, "customDomainCertificateArn": CERTIFICATE, "region": "us-east-1"}


def test_a_complete_custom_domain_is_accepted() -> None:
    settings = Settings.from_context({**WITH_DOMAIN, "customDomainHostedZoneId": ZONE})
    assert (settings.custom_domain_name, settings.custom_domain_certificate_arn) == (DOMAIN, CERTIFICATE)
    assert settings.custom_domain_hosted_zone_id == ZONE


@pytest.mark.parametrize("zone", ["example.com", "api.example.com", "com"])
def test_a_domain_in_its_named_zone_or_equal_to_it_is_accepted(zone: str) -> None:
    settings = Settings.from_context(
        {**WITH_DOMAIN, "customDomainHostedZoneId": ZONE, "customDomainHostedZoneName": zone}
    )
    assert settings.custom_domain_hosted_zone_name == zone


@pytest.mark.parametrize(
    ("context", "message"),
    [
        (
            {"customDomainName": DOMAIN},
            "context key 'customDomainName' needs 'customDomainCertificateArn' (an ACM certificate)",
        ),
        (
            {"customDomainCertificateArn": CERTIFICATE},
            "context key 'customDomainCertificateArn' needs 'customDomainName', the domain it is for",
        ),
        (
            {"customDomainHostedZoneId": ZONE},
            "context key 'customDomainHostedZoneId' needs 'customDomainName', the record to create",
        ),
        (
            {**WITH_DOMAIN, "region": "eu-west-1"},
            "context key 'customDomainCertificateArn' must be a certificate in the stack's region (eu-west-1) for a "
            "regional API; got one in us-east-1",
        ),
        ({**WITH_DOMAIN, "customDomainName": "API.example.com"}, "context key 'customDomainName' must match"),
        ({**WITH_DOMAIN, "customDomainHostedZoneId": "zone"}, "context key 'customDomainHostedZoneId' must match"),
        (
            {**WITH_DOMAIN, "customDomainHostedZoneId": ZONE, "customDomainHostedZoneName": "example.org"},
            "context key 'customDomainName' must lie in the hosted zone 'customDomainHostedZoneName' (example.org), "
            "e.g. api.example.org; got 'api.example.com'",
        ),
        (
            {**WITH_DOMAIN, "customDomainHostedZoneId": ZONE, "customDomainHostedZoneName": "ample.com"},
            "context key 'customDomainName' must lie in the hosted zone",
        ),
        (
            {**WITH_DOMAIN, "customDomainHostedZoneName": "example.com"},
            "context key 'customDomainHostedZoneName' needs 'customDomainHostedZoneId', the zone's id",
        ),
    ],
)
def test_each_bad_domain_combination_stops_with_one_line(context: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError) as refused:
        Settings.from_context(context)
    assert str(refused.value).startswith(message)


def test_a_key_starting_with_at_is_the_cdks_own() -> None:
    Settings.from_context({"@flag": True})


def test_make_without_context_reads_cdk_json_alone_and_context_overrides_it() -> None:
    assert configured({}) == Settings.from_context(cdk_json_context())
    assert configured({"CONTEXT": "functionMemoryMb=256"}).function_memory_mb == 256


DOMAIN_KEYS = {
    "customDomainName": DOMAIN,
    "customDomainCertificateArn": CERTIFICATE,
    "customDomainHostedZoneId": ZONE,
    "customDomainHostedZoneName": "example.com",
}
# The combinations that make sense: none, a domain with its certificate, then its zone, then the zone's name.
VALID_DOMAIN_SETS = [set(), set(list(DOMAIN_KEYS)[:2]), set(list(DOMAIN_KEYS)[:3]), set(DOMAIN_KEYS)]


@pytest.mark.parametrize("mask", range(2 ** len(DOMAIN_KEYS)))
def test_every_combination_of_the_domain_settings_is_accepted_or_refused_in_one_line(mask: int) -> None:
    chosen = {key: value for bit, (key, value) in enumerate(DOMAIN_KEYS.items()) if mask >> bit & 1}
    context = {"region": "us-east-1", **chosen}
    if set(chosen) in VALID_DOMAIN_SETS:
        settings = Settings.from_context(context)
        assert settings.custom_domain_name == chosen.get("customDomainName")
        return
    with pytest.raises(SettingsError) as refused:
        Settings.from_context(context)
    message = str(refused.value)
    assert "\n" not in message and message.startswith("context key 'customDomain"), message


@pytest.mark.parametrize(
    ("context", "message"),
    [
        ({"jwtIssuer": "http://issuer.example.com", "jwtAudiences": "a"}, "jwtIssuer' must be the issuer's https URL"),
        ({"jwtIssuer": "https://local-issuer.invalid/", "jwtAudiences": "a"}, "not a .invalid host"),
        ({"jwtIssuer": "https://issuer.example.com/?x=1", "jwtAudiences": "a"}, "no query"),
        ({"jwtIssuer": "https://issuer.example.com"}, "'jwtIssuer' needs 'jwtAudiences'"),
        ({"jwtAudiences": "a"}, "'jwtAudiences' needs 'jwtIssuer'"),
        ({"jwtIssuer": "https://issuer.example.com", "jwtAudiences": "a,,b"}, "without spaces or empty entries"),
        ({"jwtIssuer": "https://issuer.example.com", "jwtAudiences": "a b"}, "without spaces or empty entries"),
    ],
)
def test_the_jwt_issuer_and_audiences_are_refused_in_one_line(context: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=re.escape(message)) as refused:
        Settings.from_context(context)
    assert "\n" not in str(refused.value)


def test_the_jwt_issuer_and_audiences_are_read() -> None:
    settings = Settings.from_context(
        {"jwtIssuer": "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Abc", "jwtAudiences": "one, two"}
    )
    assert (settings.jwt_issuer, settings.jwt_audiences) == (
        "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Abc",
        ("one", "two"),
    )


def test_the_issuer_and_audiences_need_each_other_in_exactly_one_line() -> None:
    for context, line in (
        ({"jwtIssuer": "https://issuer.example.com"}, "context key 'jwtIssuer' needs 'jwtAudiences', the audiences "
         "its tokens must name"),
        ({"jwtAudiences": "a"}, "context key 'jwtAudiences' needs 'jwtIssuer', the issuer of the tokens"),
        ({"jwtIssuer": "https://issuer.example.com", "jwtAudiences": 7}, "context key 'jwtAudiences' must be a "
         "comma-separated list of audiences; got 7"),
        ({"jwtIssuer": "https://issuer.example.com", "jwtAudiences": ["a", 7]}, "context key 'jwtAudiences' must "
         "be a comma-separated list of audiences; got ['a', 7]"),
    ):  # fmt: skip
        with pytest.raises(SettingsError) as refused:
            Settings.from_context(context)
        assert str(refused.value) == line


def test_audiences_may_be_a_json_list_in_cdk_json() -> None:
    settings = Settings.from_context({"jwtIssuer": "https://issuer.example.com", "jwtAudiences": ["a", " b "]})
    assert settings.jwt_audiences == ("a", "b")
