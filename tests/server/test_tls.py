"""TLS and mutual TLS with certificates made for the test by openssl."""

from __future__ import annotations

import shutil
import subprocess

import grpc
import pytest

from storyteller.v1 import story_pb2, story_pb2_grpc
from tests.server.conftest import make_settings

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")


def make_cert(folder, name: str, ca: tuple | None = None) -> tuple:
    key, cert = folder / f"{name}.key", folder / f"{name}.pem"
    if ca is None:
        cmd = ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", f"/CN={name}",
               "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost", "-keyout", key, "-out", cert]
        subprocess.run(cmd, check=True, capture_output=True)
    else:
        csr = folder / f"{name}.csr"
        subprocess.run(["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}", "-keyout", key,
                        "-out", csr], check=True, capture_output=True)
        subprocess.run(["openssl", "x509", "-req", "-in", csr, "-CA", ca[1], "-CAkey", ca[0], "-CAcreateserial",
                        "-days", "1", "-out", cert], check=True, capture_output=True)
    return key, cert


async def describe(port: int, credentials: grpc.ChannelCredentials):
    async with grpc.aio.secure_channel(f"127.0.0.1:{port}", credentials) as channel:
        return await story_pb2_grpc.StoryServiceStub(channel).DescribeModels(story_pb2.DescribeModelsRequest(), timeout=5)


async def test_tls_server_accepts_a_client_that_trusts_its_certificate(start_server, tmp_path):
    key, cert = make_cert(tmp_path, "server")
    server = await start_server(make_settings(tls__cert_file=str(cert), tls__key_file=str(key)))
    response = await describe(server.port, grpc.ssl_channel_credentials(cert.read_bytes()))
    assert list(response.models) == []
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as plain:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await story_pb2_grpc.StoryServiceStub(plain).DescribeModels(story_pb2.DescribeModelsRequest(), timeout=2)
    assert caught.value.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)


async def test_mutual_tls_requires_a_client_certificate_from_the_ca(start_server, tmp_path):
    server_key, server_cert = make_cert(tmp_path, "server")
    ca = make_cert(tmp_path, "client-ca")
    client_key, client_cert = make_cert(tmp_path, "client", ca=ca)
    server = await start_server(
        make_settings(tls__cert_file=str(server_cert), tls__key_file=str(server_key), tls__client_ca_file=str(ca[1]))
    )
    trusted = grpc.ssl_channel_credentials(server_cert.read_bytes(), client_key.read_bytes(), client_cert.read_bytes())
    assert list((await describe(server.port, trusted)).models) == []
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await describe(server.port, grpc.ssl_channel_credentials(server_cert.read_bytes()))
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
