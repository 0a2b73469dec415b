"""camfleet: a Kubernetes operator for city camera fleets."""

__version__ = "0.1.0"
