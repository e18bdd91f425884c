-- POST /pipeline/run with a valid job body and the key in $BENCH_KEY.
--   BENCH_KEY=sk_test_ent_... wrk -c32 -d10s --latency -s bench/wrk/post_run.lua http://127.0.0.1:8080/pipeline/run
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "common.lua")

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"video_url":"https://example.com/video.mp4","voice_text":"Hello world",' ..
  '"voice_language":"en","music_style":"orchestral","metadata":{"customer_id":"cust_123"}}'
