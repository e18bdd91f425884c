"""The parts of bench/journal_soak.py, one module each.

traffic  the accounts, their set-up, and the requests that leave nothing but journal entries
report   each journal's bytes as the journal counts them, the checks, and how they are printed
"""
