"""The lab speaks SSM: an SSM-compatible endpoint (AWS JSON 1.1, SigV4 accepted) with S3
storage beside it, whose managed instances are the lab's hosts (or a simulated fleet).

``start_endpoint(state_dir)`` / ``stop_endpoint(state_dir)`` / ``read_endpoint(state_dir)``
run it as a background process of the lab; :class:`EndpointInfo` says where it listens and
makes boto3 clients for it.
"""

from __future__ import annotations

from inspectorctl.lab.ssm.control import start_endpoint
from inspectorctl.lab.ssm.errors import ApiError, SsmLabError, SsmLabInputError
from inspectorctl.lab.ssm.state import EndpointInfo, read_endpoint, stop_endpoint

__all__ = [
    "ApiError",
    "EndpointInfo",
    "SsmLabError",
    "SsmLabInputError",
    "read_endpoint",
    "start_endpoint",
    "stop_endpoint",
]
