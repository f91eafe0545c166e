"""Peer benchmarks across companies: NAICS x revenue-band peer groups with a k-anonymity floor
(:mod:`.groups`), winsorised percentiles, quartiles and 12-month trends (:mod:`.percentiles`),
a published reference table for companies without peers (:mod:`.reference`), and the
warehouse read/write (:mod:`.build`)."""
