-- GET the URL wrk was given, with the key in $BENCH_KEY (if any).
--   BENCH_KEY=sk_test_ent_... wrk -c32 -d10s --latency -s bench/wrk/get.lua http://127.0.0.1:8080/pipeline/job_x
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "common.lua")
