"""``forecast fetch`` end to end: one line per ticker, exit codes, offline, bad input first."""

from __future__ import annotations

import re

import pytest
from fake_yahoo import FakeYahoo, after_close, embedded_frame

import forecast.cli.fetch
from forecast.cli import main
from forecast.data.cache import PriceCache
from forecast.data.yahoo import RetryPolicy, YahooClient

NOW = after_close("2013-03-01")
LINE = re.compile(
    r"^(?P<ticker>\S+) +(?P<source>yahoo|cache|embedded) +rows=(?P<rows>\d+) "
    r"last=(?P<last>\d{4}-\d\d-\d\d) age=(?P<age>\S+) hash=sha256:[0-9a-f]{12}(?P<rest>.*)$"
)


@pytest.fixture
def fake(monkeypatch):
    """Yahoo serving AAPL and MSFT; the ``fetch`` command talks to it, never to the network."""
    monkeypatch.delenv("FORECAST_OFFLINE")
    f = FakeYahoo({t: embedded_frame(t).loc["2012":] for t in ("AAPL", "MSFT")})
    f.clients = []

    def make_client(cache_dir):
        c = YahooClient(
            download=f.download,
            cache_dir=cache_dir,
            now=lambda: f.now,
            sleep=lambda s: None,
            policy=RetryPolicy(jitter=0),
        )
        f.clients.append(c)
        return c

    f.now = NOW
    monkeypatch.setattr(forecast.cli.fetch, "make_client", make_client)
    yield f
    f.release()


def lines(out: str) -> dict[str, dict]:
    parsed = {}
    for line in out.splitlines():
        m = LINE.match(line)
        assert m, f"unexpected output line: {line!r}"
        parsed[m["ticker"]] = m.groupdict()
    return parsed


def test_fetch_prints_one_line_per_ticker_and_caches(fake, capsys, tmp_path):
    assert main(["fetch", "AAPL", "msft", "--cache-dir", str(tmp_path)]) == 0
    out = lines(capsys.readouterr().out)
    assert list(out) == ["AAPL", "MSFT"]
    aapl = out["AAPL"]
    assert aapl["source"] == "yahoo" and aapl["last"] == "2013-03-01" and aapl["age"] == "0s"
    assert int(aapl["rows"]) == len(embedded_frame("AAPL").loc["2012":])
    assert aapl["rest"] == f" new=+{aapl['rows']}"
    assert PriceCache(tmp_path).tickers() == ["AAPL", "MSFT"]


def test_second_fetch_tops_up_and_reports_new_rows(fake, capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("FORECAST_CACHE_DIR", str(tmp_path))
    full = fake.frames["AAPL"]
    fake.frames["AAPL"], fake.now = full.loc[:"2013-02-27"], after_close("2013-02-27")
    assert main(["fetch", "AAPL"]) == 0
    fake.frames["AAPL"], fake.now = full, NOW
    capsys.readouterr()
    assert main(["fetch", "AAPL"]) == 0
    out = lines(capsys.readouterr().out)["AAPL"]
    assert out["source"] == "yahoo" and out["rest"] == " new=+2" and out["last"] == "2013-03-01"


def test_a_ticker_without_data_fails_alone(fake, capsys, tmp_path):
    code = main(["fetch", "AAPL", "ZZZZ", "MSFT", "--cache-dir", str(tmp_path)])
    captured = capsys.readouterr()
    assert code == 1
    assert list(lines(captured.out)) == ["AAPL", "MSFT"]
    assert "forecast fetch: error: no price data for ticker 'ZZZZ'" in captured.err


def test_outage_serves_the_cache_stale_and_exits_3(fake, capsys, tmp_path):
    assert main(["fetch", "AAPL", "--cache-dir", str(tmp_path)]) == 0
    fake.fail("outage")
    fake.now = after_close("2013-03-04")
    capsys.readouterr()
    assert main(["fetch", "AAPL", "MSFT", "--cache-dir", str(tmp_path)]) == 3
    captured = capsys.readouterr()
    out = lines(captured.out)
    assert out["AAPL"]["source"] == "cache" and out["AAPL"]["age"] == "3d00h"
    assert out["AAPL"]["rest"] == " stale"
    assert out["MSFT"]["source"] == "embedded" and out["MSFT"]["age"] == "n/a"
    assert "warning: AAPL: using cached data up to 2013-03-01, fetched 3d00h ago" in captured.err
    assert "warning: MSFT: using embedded data ending 2013-03-01" in captured.err
    # the breaker: after AAPL's three tries, MSFT's tries, then no more requests
    assert fake.hits == 1 + 3 + 3


def test_a_restatement_is_reported(fake, capsys, tmp_path):
    full = fake.frames["AAPL"]
    fake.frames["AAPL"], fake.now = full.loc[:"2013-02-20"], after_close("2013-02-20")
    main(["fetch", "AAPL", "--cache-dir", str(tmp_path)])
    fake.frames["AAPL"], fake.now = full, NOW
    fake.restate("AAPL", 1 / 7, before="2013-02-25")
    capsys.readouterr()
    assert main(["fetch", "AAPL", "--cache-dir", str(tmp_path)]) == 0
    captured = capsys.readouterr()
    assert lines(captured.out)["AAPL"]["rest"].endswith(" restated")
    assert "Yahoo restated past prices (Open on 2013-02-" in captured.err


@pytest.mark.parametrize("how", ["flag", "env"])
def test_offline_never_makes_a_client(fake, capsys, monkeypatch, tmp_path, how):
    args = ["fetch", "AAPL", "--cache-dir", str(tmp_path)]
    assert main(args) == 0
    if how == "flag":
        args.append("--offline")
    else:
        monkeypatch.setenv("FORECAST_OFFLINE", "1")
    fake.clients.clear()
    capsys.readouterr()
    assert main([*args[:1], "MSFT", *args[1:]]) == 0
    out = lines(capsys.readouterr().out)
    assert out["MSFT"]["source"] == "embedded" and out["AAPL"]["source"] == "cache"
    assert fake.clients == []


@pytest.mark.parametrize(
    ("ticker", "message"),
    [
        ("../x", "bad characters: '/'"),
        ("US0378331005", "ISINs are not supported"),
        ("", "ticker must not be empty"),
        ("AAPL\x00", "bad characters"),
    ],
)
def test_bad_tickers_stop_the_run_before_any_request(fake, capsys, tmp_path, ticker, message):
    assert main(["fetch", "AAPL", ticker, "--cache-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("forecast fetch: error: ") and message in err
    assert fake.hits == 0 and not (tmp_path / "prices").exists()


def test_dates_are_checked(fake, capsys, tmp_path):
    args = ["fetch", "AAPL", "--cache-dir", str(tmp_path)]
    assert main([*args, "--start", "2013-02-01", "--end", "2013-01-01"]) == 2
    assert "--start must be on or before --end; got 2013-02-01 > 2013-01-01" in (
        capsys.readouterr().err
    )
    with pytest.raises(SystemExit) as exc:
        main([*args, "--end", "yesterday"])
    assert exc.value.code == 2
    assert "date must be a date like 2024-01-31; got 'yesterday'" in capsys.readouterr().err


def test_start_and_end_bound_the_first_fetch(fake, capsys, tmp_path):
    args = ["fetch", "AAPL", "--start", "2013-01-02", "--end", "2013-01-31"]
    assert main([*args, "--cache-dir", str(tmp_path)]) == 0
    out = lines(capsys.readouterr().out)["AAPL"]
    assert out["last"] == "2013-01-31" and out["rows"] == "21"
    assert fake.history_requests("AAPL")[0][0].isoformat() == "2013-01-02"


def test_repeated_tickers_are_fetched_once(fake, capsys, tmp_path):
    assert main(["fetch", "AAPL", "aapl", " AAPL", "--cache-dir", str(tmp_path)]) == 0
    captured = capsys.readouterr()
    assert (
        list(lines(captured.out)) == ["AAPL"] and "fetching each of ['AAPL'] once" in captured.err
    )


def test_help_documents_exit_codes_and_environment(capsys):
    with pytest.raises(SystemExit):
        main(["fetch", "--help"])
    text = capsys.readouterr().out
    for needle in ("exit status", "FORECAST_OFFLINE=1", "FORECAST_CACHE_DIR", "3  Yahoo"):
        assert needle in text
