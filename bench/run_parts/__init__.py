"""The parts of bench/run.py, one module each: what it measures and how it reports it.

common      the keys, the job body, the sandbox's command line, a target check
throughput  the bare app and the sandbox under wrk, endpoint by endpoint
overhead    the limiter and the scenario engine under wrk; in_process times them alone
memory      VmRSS idle, then with 100,000 jobs stored
"""
