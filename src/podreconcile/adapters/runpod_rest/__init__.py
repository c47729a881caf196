"""RunPod's REST v2 API (https://api.runpod.io/v2), the default provider.

  client.py    one httpx connection per command run; the key as a Bearer header
  models.py    pydantic bodies: requests strict, answers tolerant but typed
  errors.py    problem+json (and HTML gateway pages) -> core's errors, once
  facts.py     answers -> PodFacts, VolumeFacts, GpuOffer
  provider.py  RestProvider: core's Provider over those
"""

from podreconcile.adapters.runpod_rest.client import DEFAULT_BASE_URL, Client
from podreconcile.adapters.runpod_rest.provider import RestProvider

__all__ = ["DEFAULT_BASE_URL", "Client", "RestProvider"]
