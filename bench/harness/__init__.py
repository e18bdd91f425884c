"""The harness the benchmarks in bench/ share; each script keeps only what it measures.

    processes  child processes: a free port, wait until ready (a first 200 on /health, or
               the ready line of a server on --port 0), pin to a core, stop (SIGTERM, then kill)
    fleet      the children of one run, servers and others, all stopped however the run ends
    client     a small JSON client over http.client, for set-up calls and light probes
    procfs     what /proc says of a process (RSS, CPU time, time waiting for a core) and the
               machine's load average
    measuring  interleaved runs after warm-ups, and samples reduced to figures (min, median,
               percentiles)
    wrk        one wrk run against a server, its figures and the server's CPU per request
    machine    the machine a run was made on: CPU, kernel, Python, packages, commit
    report     the tables more than one benchmark prints
    stack      the event loop and HTTP parser a running server uses, read from its process
               (gdb on llhttp_execute and uv_run; jcmd for a JVM)

The scripts run as `python bench/NAME.py`; bench/ is then first on sys.path, so `harness`
imports as it is, with nothing installed. Parts that belong to one benchmark only live in a
folder beside it (run_parts/, soak_parts/, ...). Type-checked with
`MYPYPATH=src:bench mypy --strict --explicit-package-bases bench`.
"""
