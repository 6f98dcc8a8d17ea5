"""LOG002 stays informational, and says so when most of a log was superseded by a later attempt."""

from tests.rules.cases.log002 import _appended_csv_runs, _short_resume


def test_a_mostly_superseded_log_says_only_the_last_attempt_is_diagnosed():
    from nandoctor.features import Facts
    from nandoctor.rules.restart_rewind import RestartRewind

    run = _appended_csv_runs()
    (finding,) = RestartRewind().check(run, Facts(run))
    assert finding.severity == "info" and "only the last attempt" in finding.message
    run = _short_resume()
    (finding,) = RestartRewind().check(run, Facts(run))
    assert "only the last attempt" not in finding.message
