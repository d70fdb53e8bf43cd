"""The ``cloud`` fact: the cloud provider and instance id (DMI, cloud-init, and the EC2 instance
metadata service only on EC2)."""

import json
import re
from typing import Any, Callable, Dict, Optional, Tuple

from .context import Fact, Gatherer, ProbeContext
from .osinfo import _read_dmi


def fact_cloud(g: Gatherer) -> Dict[str, Any]:
    return gather_cloud(g.ctx)


def _imds_request(method: str, path: str, headers: Dict[str, str]) -> Tuple[int, str]:
    """One request to the EC2 instance metadata service (link-local, 1 s timeout)."""
    import http.client

    conn = http.client.HTTPConnection("169.254.169.254", 80, timeout=1.0)
    try:
        conn.request(method, path, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.read(4096).decode("utf-8", "replace")
    finally:
        conn.close()


def is_ec2_dmi(dmi: Dict[str, str]) -> bool:
    """The only gate for contacting IMDS: DMI names the machine an Amazon EC2 instance."""
    return dmi.get("sys_vendor") == "Amazon EC2" or dmi.get("board_vendor") == "Amazon EC2"


def gather_cloud(
    ctx: ProbeContext,
    imds: Optional[Callable[[str, str, Dict[str, str]], Tuple[int, str]]] = None,
) -> Dict[str, Any]:
    dmi = _read_dmi(ctx)
    out: Dict[str, Any] = {
        "provider": "unknown",
        "dmi_vendor": dmi.get("sys_vendor"),
        "dmi_product": dmi.get("product_name"),
        "instance_id": None,
        "imds_http_tokens": None,
        "imds_hop_limit": None,
        "source": None,
        "error": None,
    }
    ec2 = is_ec2_dmi(dmi)
    if ec2 or "amazon" in dmi.get("bios_version", "").lower():
        out["provider"] = "aws"
    elif dmi:
        out["provider"] = "none"
    tag = dmi.get("board_asset_tag", "")
    if out["provider"] == "aws" and re.match(r"^i-[0-9a-f]{8,17}$", tag):
        out["instance_id"] = tag
        out["source"] = "dmi"
    try:
        data = json.loads(ctx.read("/run/cloud-init/instance-data.json"))
        v1 = data.get("v1", {}) if isinstance(data, dict) else {}
        if isinstance(v1, dict):
            if v1.get("cloud_name") == "aws" or v1.get("platform") == "ec2":
                out["provider"] = "aws"
            if v1.get("instance_id") and out["provider"] == "aws":
                out["instance_id"] = str(v1["instance_id"])
                out["source"] = "cloud-init"
    except (OSError, ValueError):
        pass
    if ec2 and ctx.allow_imds:
        call = imds or _imds_request
        try:
            status, token = call(
                "PUT", "/latest/api/token", {"X-aws-ec2-metadata-token-ttl-seconds": "60"}
            )
            if status != 200:
                raise OSError("token request answered HTTP %d" % status)
            status, body = call(
                "GET", "/latest/meta-data/instance-id", {"X-aws-ec2-metadata-token": token}
            )
            if status == 200 and not out["instance_id"]:
                out["instance_id"] = body.strip()
            status, _ = call("GET", "/latest/meta-data/instance-id", {})
            out["imds_http_tokens"] = (
                "required" if status == 401 else ("optional" if status == 200 else None)
            )
            out["source"] = "imds" if out["source"] is None else out["source"] + "+imds"
        except (OSError, ValueError) as e:
            out["error"] = "instance metadata service: %s" % e
    elif ec2:
        out["error"] = "instance metadata service not contacted (disabled for this run)"
    return out


CLOUD_FACT = Fact("cloud", fact_cloud)
