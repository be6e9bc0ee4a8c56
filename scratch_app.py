import time, orjson
from server import create_app
from server.storage import supabase as sb
from tests.conftest import Ingest
from tests.supabase.conftest import supabase_config
from tests.supabase.gateway_http import GatewayProcess
from tests.supabase.supabase_db import supabase_database
from bench.dataset import make_dataset
from bench.supabase_rest import reset
data = make_dataset(20000, seed_tag="s")
url = supabase_database("bench_supabase")
body = b"".join(orjson.dumps(p) + b"\n" for p in data.profiles)
real = sb.post_rpc
spent = []
def timed(client, function, b):
    t = time.perf_counter(); r = real(client, function, b); spent.append(time.perf_counter() - t); return r
sb.post_rpc = timed
with GatewayProcess(url) as g:
    app = create_app(supabase_config("", SUPABASE_URL=g.url, LOG_LEVEL="warning", DATABASE_URL=""))
    for _ in range(3):
        reset(url, data); spent.clear()
        t = time.perf_counter()
        r = Ingest(app.test_client()).raw(body, "application/x-ndjson")
        print(r.status_code, "total", round(time.perf_counter() - t, 3), "in rpc", round(sum(spent), 3), len(spent))
