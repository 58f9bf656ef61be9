"""Run in a subprocess by ``test_time_zones.py`` under a given ``TZ``: reconcile two days around midnight on
a fresh SQLite database with fixed ids and print the runs as the CLI's ``--json`` would."""

from __future__ import annotations

import json
import sys
import time
from datetime import timedelta
from pathlib import Path

from indiepay.core.clock import BUSINESS_TZ, FixedClock
from indiepay.db.migrate import upgrade
from indiepay.reconciliation import repository
from indiepay.reconciliation.schemas import run_summary
from indiepay.runtime import Runtime
from tests.reconciliation.world import DAY, World, beijing
from tests.support.platform import settings_for_test


def main(workdir: Path) -> None:
    time.tzset()
    url = f"sqlite:///{workdir / 'db.sqlite'}"
    upgrade(url)
    nxt = DAY + timedelta(days=1)
    runtime = Runtime.build(settings_for_test(workdir, url, 0, run_worker=False, mount_sandbox=False),
                            FixedClock(beijing(nxt, 10)))
    world = World(runtime.ctx, merchant_id="mch_tz", account_id="acct_tz")
    edge = world.payment(3_300, beijing(nxt, 0, 0, 0, 100_000), created_at=beijing(DAY, 23, 59, 59, 900_000),
                         out_trade_no="EDGE")
    late = world.payment(2_000, beijing(DAY, 23, 59, 58), out_trade_no="LATE")
    early = world.payment(1_000, beijing(DAY, 0, 0, 0, 1), out_trade_no="EARLY")
    gone = world.payment(700, beijing(DAY, 7, 59, 59), out_trade_no="GONE")  # 23:59:59 UTC the day before
    results = [world.import_bill(world.wechat_bill([world.wechat_row(early)]), day=DAY),
               world.import_bill(world.wechat_bill([world.wechat_row(edge), world.wechat_row(
                   late, trade_time=beijing(nxt, 0, 0, 2).astimezone(BUSINESS_TZ))]), day=nxt)]
    del gone
    with runtime.ctx.db.read() as session:
        diffs = repository.run_differences(session, [r.run.id for r in results])
        runs = [run_summary(r.run, diffs[r.run.id]) for r in results]
    runtime.close()
    print(json.dumps({"runs": runs}, sort_keys=True))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
