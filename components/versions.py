"""Versions this package is built and tested against (one place, read by code and scripts)."""

#: Istio release installed when a stack does not pin one. scripts/install-tools.sh builds istioctl at this version.
DEFAULT_ISTIO_VERSION = "1.30.4"
