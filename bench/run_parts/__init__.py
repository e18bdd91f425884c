"""The parts of bench/run.py, one module each: what it measures and how it reports it.

common      the keys, the job body, a target check
install     the Python environment of the floor and the sandbox: the wheel in a fresh venv
peers       Prism, WireMock and Mockoon from npm, serving bench/peers/'s definitions
throughput  the floor, the sandbox and the peers under wrk, endpoint by endpoint, and the
            event loop and HTTP parser each process runs (harness/stack.py)
overhead    the limiter and the scenario engine under wrk; in_process times them alone
memory      VmRSS idle, then with 100,000 jobs stored
"""
