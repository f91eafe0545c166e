"""UK Open Banking (OBIE Read/Write API, AIS v3.1) sandbox provider."""
