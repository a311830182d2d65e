# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""The growth benchmark's verdicts and charts (tools/bench_scale.py), on figures made here."""

from tools import bench_scale


def _figure(items, wall_per_item=0.005, sql_per_item=0.15, requests_per_item=0.055, **extra):
    figure = {
        "items": items,
        "wall": wall_per_item * items,
        "queries": round(sql_per_item * items),
        "requests": round(requests_per_item * items),
        "runs": -(-items // 2000),
        "load": [1.0, 1.0],
        "created": items,
        "backlog": 0,
    }
    figure.update(extra)
    return figure


def _figures(push_top=None, pull_top=None):
    return {
        "latency": 0.02,
        "ours_push": [_figure(100), _figure(1000), push_top or _figure(20000)],
        "ours_pull": [_figure(1000), pull_top or _figure(20000)],
        "theirs": [
            {
                "push": _figure(1000, wall_per_item=0.05, requests_per_item=1.0),
                "pull": _figure(1000, wall_per_item=0.02, requests_per_item=0.01),
            }
        ],
    }


def test_flat_cost_per_item_passes(capsys):
    assert bench_scale.report(_figures()) == 0
    out = capsys.readouterr().out
    assert "PASS  push: SQL per item at 20,000 within 1.25x of that at 1,000" in out
    assert "FAIL" not in out


def test_cost_per_item_growing_past_the_ratio_fails(capsys):
    # 0.15 SQL per item at 1,000, 0.195 (1.3x) at 20,000: a query per some records crept in.
    rc = bench_scale.report(_figures(pull_top=_figure(20000, sql_per_item=0.195)))
    out = capsys.readouterr().out
    assert rc == 1
    assert "FAIL  Outlook meetings logged: SQL per item at 20,000" in out
    assert "PASS  Outlook meetings logged: requests per item at 20,000" in out


def test_backlog_left_fails_even_when_costs_are_flat(capsys):
    top = _figure(20000, created=18000, backlog=2000)
    assert bench_scale.report(_figures(push_top=top)) == 1
    assert "FAIL  push of 20,000: all created (18,000) and no backlog left (2000)" in (
        capsys.readouterr().out
    )


def test_charts_are_png_files(tmp_path):
    paths = bench_scale.charts(_figures(), tmp_path)
    assert [path.name for path in paths] == ["scale-push.png", "scale-pull.png"]
    for path in paths:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert path.stat().st_size > 10_000
