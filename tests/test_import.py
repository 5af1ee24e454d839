"""Customer and numbering imports from files as they arrive: other encodings, broken rows, unknown managers.

Every bad row is a `file:line` problem and is skipped; the rows around it are written.
"""

from __future__ import annotations

import asyncio
import json
import subprocess

import pytest

from router.directory.csvfile import ImportReport, rows
from router.directory.customers import import_csv
from router.state.factory import open_store
from tests.helpers import ROUTER_CMD, RULES_DIR, free_port, router_env

HEADER = "number,name,abc,manager,timezone,tags\n"


def router(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*ROUTER_CMD, *args], capture_output=True, text=True, timeout=120,
                          env=router_env(**(env or {})))


def lines_of(report: ImportReport) -> list[int]:
    return [int(e.split(":")[1]) for e in report.errors]


async def test_windows_1251_file_is_detected_and_read(store, tmp_path):
    f = tmp_path / "crm.csv"
    f.write_bytes((HEADER + "+79035550101,ООО Ромашка,A,ivanov,,\n+79035550102,Иванов Пётр,B,,,\n").encode("cp1251"))
    report = await import_csv(store, str(f))
    assert (report.imported, report.skipped, report.encoding) == (2, 0, "cp1251")
    assert (await store.customer("+79035550101"))["name"] == "ООО Ромашка"
    assert (await store.customer("+79035550102"))["name"] == "Иванов Пётр"


async def test_utf8_with_bom_is_read_as_utf8(store, tmp_path):
    f = tmp_path / "crm.csv"
    f.write_bytes(("\ufeff" + HEADER + "+79035550101,Ромашка,A,,,\n").encode("utf-8"))
    report = await import_csv(store, str(f))
    assert (report.imported, report.encoding) == (1, "utf-8")
    assert (await store.customer("+79035550101"))["name"] == "Ромашка"


async def test_broken_rows_are_skipped_by_line_and_the_rows_around_them_kept(store, tmp_path):
    f = tmp_path / "crm.csv"
    f.write_bytes(HEADER.encode()
                  + b"+79035550101,Olga,A,,,\n"                           # 2 good
                  + b"+79035550102," + b"x" * 128 * 1024 + b",A,,,\n"     # 3 a 128 KB field
                  + b"+79035550103,\"Unterminated,A,,,\n"                  # 4 a quote never closed
                  + b"+79035550104,Right after,B,,,\n"                    # 5 good: not swallowed by line 4
                  + b"+79035550105,\"Bro\"ken,A,,,\n"                      # 6 text after a closing quote
                  + "+79035550106,Ромашка,A,,,\n".encode()                # 7 good, UTF-8 decides the file
                  + "+79035550107,Ромашка,A,,,\n".encode("cp1251")        # 8 bytes that are not UTF-8
                  + b"+79035550108,short\n"                               # 9 fewer fields than the header
                  + b"+79035550109,\"Two\nlines\",C,,,\n"                  # 10-11 a quoted cell may span lines
                  + b"+79035550110,Last,C,,,\n")                          # 12 good
    report = await import_csv(store, str(f))
    assert lines_of(report) == [3, 4, 6, 8, 9]
    problems = dict(zip(lines_of(report), report.errors, strict=True))
    assert "longer than 64 KB" in problems[3] and "unterminated quote" in problems[4]
    assert "broken quoting" in problems[6] and "not utf-8" in problems[8]
    assert "2 fields where the header has 6" in problems[9]
    assert all(e.endswith("row skipped") for e in report.errors)
    assert (report.imported, report.skipped) == (5, 5)
    for n in ("01", "04", "06", "09", "10"):
        assert await store.customer(f"+790355501{n}"), n
    assert (await store.customer("+79035550109"))["name"] == "Two\nlines"


async def test_an_encoding_given_is_used_for_every_line(store, tmp_path):
    f = tmp_path / "crm.csv"
    f.write_bytes((HEADER + "+79035550101,Ромашка,A,,,\n").encode("cp1251"))
    report = await import_csv(store, str(f), encoding="utf-8")
    assert report.imported == 0 and lines_of(report) == [2]
    assert "give --encoding" in report.errors[0]


async def test_managers_unknown_to_the_rules_are_reported_once_each_and_kept(store, tmp_path):
    f = tmp_path / "crm.csv"
    f.write_text(HEADER + "+79035550101,A,A,ivanov,,\n+79035550102,B,A,sidorov,,\n+79035550103,C,A,sidorov,,\n"
                 "+79035550104,D,A,kozlov,,\n")
    report = await import_csv(store, str(f), managers=frozenset({"ivanov", "petrova"}))
    assert report.imported == 4 and report.skipped == 0 and report.warned == 2
    assert lines_of(report) == [3, 5]
    assert "manager 'sidorov' is not in the rules (known: ivanov, petrova)" in report.errors[0]
    assert (await store.customer("+79035550103"))["manager"] == "sidorov"


@pytest.mark.slow
def test_cli_checks_managers_against_the_rules_and_names_what_it_wrote(redis_url, prefix, tmp_path):
    f = tmp_path / "crm.csv"
    f.write_text(HEADER + "+79035550101,A,A,ivanov,,\n+79035550102,B,A,nobody,,\n+79035550103,C\n")
    res = router("customers", "import", str(f), "--rules", str(RULES_DIR), "--store", redis_url, "--prefix", prefix)
    assert res.returncode == 1, res.stderr
    assert f"{f}:3: manager 'nobody' is not in the rules" in res.stderr
    assert f"{f}:4: 2 fields where the header has 6" in res.stderr
    assert res.stdout.strip() == f"{f} (ascii): 2 customer records written, 1 rows skipped, 1 warnings"


@pytest.mark.slow
def test_cli_streams_the_first_problems_and_counts_the_rest(redis_url, prefix, tmp_path):
    f = tmp_path / "crm.csv"
    f.write_text(HEADER + "+79035550101,Good,A,,,\n" + "bad,row\n" * 500 + "+79035550102,Good,B,,,\n")
    res = router("customers", "import", str(f), "--show", "3", "--store", redis_url, "--prefix", prefix)
    assert res.returncode == 1
    shown = [x for x in res.stderr.splitlines() if x.startswith(f"{f}:")]
    assert [x.split(":")[1] for x in shown] == ["3", "4", "5"]
    assert "… 497 more problems not shown" in res.stderr
    assert "2 customer records written, 500 rows skipped" in res.stdout


@pytest.mark.slow
def test_cli_reports_a_store_that_fails_and_what_was_written(tmp_path):
    f = tmp_path / "crm.csv"
    f.write_text(HEADER + "+79035550101,Good,A,,,\n")
    res = router("customers", "import", str(f), "--store", f"redis://127.0.0.1:{free_port()}/0")
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert "0 customer records written" in res.stdout and "the import stopped there" in res.stdout


@pytest.mark.slow
def test_cli_rejects_an_unknown_encoding(tmp_path):
    res = router("numbering", "import", str(tmp_path / "x.csv"), "--encoding", "klingon")
    assert res.returncode == 2 and "unknown encoding 'klingon'" in res.stderr


def test_reader_passes_over_blank_lines_and_numbers_lines_as_the_file_does(tmp_path):
    f = tmp_path / "x.csv"
    f.write_text("a,b\n\n1,2\r\n\"x\ny\",3\n4,5\n")
    report = ImportReport(str(f))
    assert list(rows(str(f), report)) == [(1, ["a", "b"]), (3, ["1", "2"]), (4, ["x\ny", "3"]), (6, ["4", "5"])]


@pytest.mark.slow
def test_customers_show_prints_the_record_and_the_history(redis_url, prefix, tmp_path):
    f = tmp_path / "crm.csv"
    f.write_text(HEADER + "+79035550101,Olga,A,ivanov,Asia/Vladivostok,vip\n")
    assert router("customers", "import", str(f), "--store", redis_url, "--prefix", prefix).returncode == 0

    async def history() -> None:
        s = open_store(redis_url, prefix)
        await s.snapshot("+79035550101", None, 1795337767.0, 86400.0, record_inbound="call-1")
        await s.record_outbound("+79035550101", 1795341367.0, True)
        await s.close()

    asyncio.run(history())
    res = router("customers", "show", "8 903 555-01-01", "--rules", str(RULES_DIR), "--store", redis_url,
                 "--prefix", prefix)
    assert res.returncode == 0, res.stderr
    out = res.stdout
    assert out.startswith("+79035550101  Olga\n")
    assert "abc A · manager ivanov · timezone Asia/Vladivostok · tags vip" in out
    assert "history (times in Europe/Moscow):" in out
    assert "last inbound call   2026-11-22 11:56:07" in out
    assert "last outbound call  2026-11-22 12:56:07 (answered)" in out
    assert "2026-11-22 11:56:07  call-1" in out
    js = json.loads(router("customers", "show", "+79035550101", "--json", "--store", redis_url,
                           "--prefix", prefix).stdout)
    assert js["customer"]["manager"] == "ivanov" and js["inbound_total"] == 1
    unknown = router("customers", "show", "+79035550199", "--store", redis_url, "--prefix", prefix)
    assert unknown.returncode == 1 and "not in the customer directory" in unknown.stdout


async def test_a_contract_column_points_the_contract_at_its_customer_and_a_bad_one_is_a_line(store, tmp_path):
    f = tmp_path / "crm.csv"
    f.write_text("number,name,abc,manager,timezone,tags,contract\n+79035550101,Olga,A,ivanov,,,1234 5674\n"
                 "+79035550102,Pavel,B,,,,12-34\n+79035550103,Irina,C,,,,\n")
    report = await import_csv(store, str(f))
    assert (report.imported, lines_of(report)) == (2, [3])
    assert "contract '12-34': the digits a caller types" in report.errors[0]
    assert await store.contract_number("12345674") == "+79035550101"
    assert (await store.customer("+79035550101"))["contract"] == "12345674"
    erased = await store.forget_number("+79035550101", [])
    assert erased.keys >= 2 and await store.contract_number("12345674") is None
