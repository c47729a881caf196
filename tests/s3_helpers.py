"""Reach the sandbox's S3 API as a user would: from the exports `sandbox up` prints."""

from __future__ import annotations

import shlex

import boto3
from botocore.config import Config

from podreconcile.sandbox import daemon


def s3_exports(running: daemon.Running) -> dict[str, str]:
    """The RUNPOD_S3_* variables of `sandbox up`'s export lines."""
    exports = {}
    for line in running.exports().splitlines():
        name, _, value = line.removeprefix("export ").partition("=")
        exports[name] = shlex.split(value)[0]
    return {k: v for k, v in exports.items() if k.startswith("RUNPOD_S3_")}


def boto3_client(running: daemon.Running, data_center: str = "EU-RO-1", secret: str | None = None,
                 attempts: int | None = None, region: str | None = None):
    """An unmodified boto3 S3 client for one data center, configured as RunPod's docs say."""
    env = s3_exports(running)
    config = Config(retries={"total_max_attempts": attempts, "mode": "standard"}) if attempts else None
    return boto3.client(
        "s3",
        endpoint_url=env["RUNPOD_S3_ENDPOINT_URL"].format(datacenter=data_center.lower()),
        region_name=region or data_center,
        aws_access_key_id=env["RUNPOD_S3_ACCESS_KEY"],
        aws_secret_access_key=secret or env["RUNPOD_S3_SECRET_KEY"],
        config=config,
    )


def create_volume(running: daemon.Running, data_center: str = "EU-RO-1", name: str = "s3") -> str:
    query = "mutation C($n: String!, $s: Int!, $d: String!) { createNetworkVolume(input: {name: $n, size: $s, dataCenterId: $d}) { id } }"
    return daemon.graphql(running, query, {"n": name, "s": 10, "d": data_center})["createNetworkVolume"]["id"]
