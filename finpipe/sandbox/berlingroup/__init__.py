"""Berlin Group NextGenPSD2 (XS2A AIS) sandbox provider; see :mod:`.app`."""
