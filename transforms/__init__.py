"""De-identification steps: each module holds a pure core and a thin Beam wrapper."""
