"""The signals, each a pure function of AccountState facts at a moment.

Every function returns None when the account has no data for the signal:
unknown is not zero (its weight is shared out over the known signals).
"""
