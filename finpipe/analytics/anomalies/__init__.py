"""Anomaly and fraud flags per transaction: rules, Benford's law, an unsupervised model and
seasonally adjusted alerts, each flag with a type, a score in [0, 1] and a reason naming its
numbers (see :mod:`finpipe.analytics.anomalies.build`)."""
