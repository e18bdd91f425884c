"""The parts of bench/soak.py, one module each.

receiver  the webhook receiver, in a process of its own, and the deliveries it got
accounts  accounts that client groups move through, round by round, and their audit
clients   the clients and their weighted mix of operations
summary   the checks, the figures behind them, and how they are printed
"""
