"""API group and version of every camfleet kind.

Adding v1beta1 later: write its models beside these (e.g. `camfleet/api/v1beta1/`) and let the
generator emit both versions in each CRD, v1alpha1 still `served` but no longer `storage`. While the
versions differ only by added optional fields, the CRD's `conversion: None` is enough; once a field
is renamed or reshaped, the operator serves a conversion webhook that converts through the pydantic
models of both versions (round-trip tested). Then migrate stored objects (rewrite every object so it is
stored as v1beta1), drop v1alpha1 from the CRD's `status.storedVersions`, and stop serving v1alpha1
after a deprecation period.
"""

from typing import Final

GROUP: Final = "camfleet.io"
VERSION: Final = "v1alpha1"
API_VERSION: Final = "camfleet.io/v1alpha1"
"""GROUP/VERSION, spelled out so that type checkers see the literal."""
CATEGORY: Final = "camfleet"
"""`kubectl get camfleet` lists every kind."""
