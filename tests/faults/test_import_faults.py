"""Row 12: a CRM export in Windows-1251 with a 128 KB field and an unterminated quote, and a file of a
million bad rows, through `router customers import` and `router numbering import` against real Redis.

Before: the whole import aborted blaming the store, with no line number, after writing the rows
before the bad one; a million bad rows held 227 MB and wrote 127 MB to stderr.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

from router.state.factory import open_store
from tests.helpers import ROUTER_CMD, router_env

HEADER = "number,name,abc,manager,timezone,tags\n"


MEASURED = ("import os, sys; pid = os.posix_spawn(sys.argv[2], sys.argv[2:], os.environ); "
            "_, status, usage = os.wait4(pid, 0); open(sys.argv[1], 'w').write(str(usage.ru_maxrss)); "
            "sys.exit(os.waitstatus_to_exitcode(status))")
"""Runs a command and writes its peak memory. A child of this test process would report this
process's own peak instead (Linux keeps the peak across exec, and a spawned child starts from
its parent's memory), so the command runs as the child of this small launcher."""


def run_measured(tmp_path: Path, *args: str) -> tuple[int, str, str, int]:
    """Run `router …`; (exit status, stdout, stderr, the process's own peak memory in KB)."""
    out, err, peak = tmp_path / "stdout", tmp_path / "stderr", tmp_path / "peak"
    with out.open("w") as o, err.open("w") as e:
        status = subprocess.run([sys.executable, "-c", MEASURED, str(peak), *ROUTER_CMD, *args], stdout=o, stderr=e,
                                env=router_env(), timeout=300).returncode
    return status, out.read_text(), err.read_text(), int(peak.read_text())


def test_a_windows_1251_export_with_a_huge_field_and_a_stray_quote_is_imported_around_them(redis_url, prefix,
                                                                                          tmp_path):
    f = tmp_path / "crm.csv"
    good = [f"+7903555{i:04d},ООО Ромашка {i},B,,Asia/Vladivostok,\n" for i in range(1000)]
    body = "".join(good[:400]) + "+79035559001," + "Я" * 128 * 1024 + ",A,,,\n" + "".join(good[400:700]) \
        + "+79035559002,\"ООО Кавычка,A,,,\n" + "".join(good[700:])
    f.write_bytes((HEADER + body).encode("cp1251"))
    res = subprocess.run([*ROUTER_CMD, "customers", "import", str(f), "--store", redis_url, "--prefix", prefix],
                         capture_output=True, text=True, timeout=120, env=router_env())
    assert res.returncode == 1
    assert res.stderr.splitlines()[-2:] == [f"{f}:402: line longer than 64 KB; row skipped",
                                            f"{f}:703: unterminated quote; row skipped"]
    assert res.stdout.strip() == f"{f} (cp1251): 1,000 customer records written, 2 rows skipped, 0 warnings"

    async def names() -> list[str]:
        s = open_store(redis_url, prefix)
        try:
            return [(await s.customer(f"+7903555{i:04d}")).get("name", "") for i in (0, 399, 400, 999)]
        finally:
            await s.close()

    assert asyncio.run(names()) == ["ООО Ромашка 0", "ООО Ромашка 399", "ООО Ромашка 400", "ООО Ромашка 999"]


def test_a_million_bad_rows_cost_bounded_memory_and_a_few_lines_of_output(redis_url, prefix, tmp_path):
    f = tmp_path / "bad.csv"
    with f.open("w") as out:
        out.write(HEADER + "+79035550101,Good,A,,,\n")
        for _ in range(100):
            out.write("+79031234567,short\n" * 10_000)
        out.write("+79035550102,Good too,B,,,\n")
    status, out, err, peak_kb = run_measured(tmp_path, "customers", "import", str(f), "--store", redis_url,
                                             "--prefix", prefix)
    assert status == 1
    assert out.strip() == f"{f} (ascii): 2 customer records written, 1,000,000 rows skipped, 0 warnings"
    assert len(err) < 5_000 and "… 999,980 more problems not shown" in err
    assert 0 < peak_kb < 100_000, f"{peak_kb / 1024:.0f} MB"


def test_numbering_import_of_broken_bytes_keeps_the_good_ranges(redis_url, prefix, tmp_path):
    f = tmp_path / "DEF-9xx.csv"
    f.write_bytes("АВС/ DEF;От;До;Емкость;Оператор;Регион\n".encode("cp1251")
                  + "914;7000000;7099999;100000;МТС;Приморский край\n".encode("cp1251")
                  + b"914;7100000;7199999;100000;\"x;y\n"
                  + b"913;" + b"9" * 200_000 + b"\n"
                  + "913;9000000;9099999;100000;МТС;Новосибирская обл.\n".encode("cp1251"))
    res = subprocess.run([*ROUTER_CMD, "numbering", "import", str(f), "--store", redis_url, "--prefix", prefix],
                         capture_output=True, text=True, timeout=120, env=router_env())
    assert res.returncode == 1
    assert [line.split(":")[1] for line in res.stderr.splitlines()] == ["3", "4"]
    assert res.stdout.strip() == f"{f} (cp1251): 2 ranges in force, 2 rows skipped, 0 warnings"
