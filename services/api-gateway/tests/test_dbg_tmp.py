import random, uuid
import test_day_lanes as t
from test_day_lanes import Host, utc

class Proxy:
    def __init__(self, pg): self.pg = pg; self.step = 0
    async def fetch(self, *a, **k): return await self.pg.fetch(*a, **k)
    async def execute(self, sql, *args):
        before = await t._stored(self.pg)
        r = await self.pg.execute(sql, *args)
        self.step += 1
        kept = await t._stored(self.pg)
        rules = t._from_rules(await t._sessions(self.pg))
        if kept != rules:
            print("STEP", self.step, sql.strip()[:30])
            if "DELETE" in sql: print("deleted", args)
            else:
                for row in zip(*args): print("row", row[7], row[0], row[1], row[4], row[8])
            for x in sorted(set(before)): print("before", x[1], x[2], x[3], x[4], x[7], x[8])
            for x in sorted(set(kept) - set(rules)): print("extra", x[1], x[2], x[3], x[4], x[7], x[8])
            for x in sorted(set(rules) - set(kept)): print("missing", x[1], x[2], x[3], x[4], x[7], x[8])
            assert 0
        return r

async def test_dbg(pg):
    rng = random.Random("runs 2")
    base = utc(2026, 11, 29, 22)
    hosts = [Host(rng, name, uuid.uuid4(), base) for name in ["laptop_me", "desk_you", "build_box"]]
    await t._random_history(Proxy(pg), rng, hosts)
