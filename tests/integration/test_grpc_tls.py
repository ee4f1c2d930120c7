"""``tls = true`` against a TLS gRPC server on 127.0.0.1 with a certificate made in the test (openssl CLI):
the CA file is trusted, a client certificate passes mutual TLS, plaintext and a wrong CA fail."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.servers import script_server

from hftperf.config import ScenarioConfig
from hftperf.errors import HftperfError
from hftperf.scenarios.base import RunContext
from hftperf.scenarios.grpc_call import GrpcCall, GrpcCallParams

REPO = Path(__file__).resolve().parents[2]
QUOTE_SERVER = REPO / "tests" / "support" / "grpc_quote_server.py"
PROTOS = REPO / "tests" / "support" / "grpc_quotes"

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl CLI")


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60)


def make_ca(directory: Path, name: str) -> tuple[Path, Path]:
    key, cert = directory / f"{name}.key", directory / f"{name}.pem"
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "1",
             "-subj", f"/CN={name}")
    return key, cert


def issue(directory: Path, ca: tuple[Path, Path], name: str, server: bool) -> tuple[Path, Path]:
    key, csr, cert, ext = (directory / f"{name}.key", directory / f"{name}.csr", directory / f"{name}.pem",
                           directory / f"{name}.ext")
    ext.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n" if server else "extendedKeyUsage=clientAuth\n")
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(csr), "-subj", f"/CN={name}")
    _openssl("x509", "-req", "-in", str(csr), "-CA", str(ca[1]), "-CAkey", str(ca[0]), "-CAcreateserial",
             "-out", str(cert), "-days", "1", "-extfile", str(ext))
    return key, cert


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    directory = tmp_path_factory.mktemp("pki")
    ca = make_ca(directory, "test-ca")
    other = make_ca(directory, "other-ca")
    server = issue(directory, ca, "server", server=True)
    client = issue(directory, ca, "client", server=False)
    return {"ca": ca[1], "other_ca": other[1], "server_key": server[0], "server_cert": server[1],
            "client_key": client[0], "client_cert": client[1]}


@pytest.fixture(scope="module")
def tls_server(pki: dict[str, Path]) -> Iterator[str]:
    with script_server(QUOTE_SERVER, "--tls-cert", str(pki["server_cert"]), "--tls-key", str(pki["server_key"]),
                       "--client-ca", str(pki["ca"])) as url:
        yield url.removeprefix("http://")


def run(target: str, **params: object) -> object:
    config = ScenarioConfig(name="tls", kind="grpc", warmup_s=0.0, duration_s=0.5, seed=1, thresholds=(), params={
        "method": "acme.quotes.v2.QuoteService/GetQuote", "rate": "100/s", "timeout": "2s",
        "request": '{"instrument": "AAPL", "requestId": "r${seq}"}',
        "protos": [str(PROTOS / "acme_quotes.proto")], "import_paths": [str(PROTOS)], **params})
    return GrpcCall().run(config, config.parse_params(GrpcCallParams), RunContext(target_url="http://x:1",
                                                                                 grpc_target=target))


def test_mutual_tls_with_the_ca_file_and_a_client_certificate(tls_server: str, pki: dict[str, Path]) -> None:
    outcome = run(tls_server, tls=True, ca_file=str(pki["ca"]), cert_file=str(pki["client_cert"]),
                  key_file=str(pki["client_key"]))
    result = outcome.load  # type: ignore[attr-defined]
    assert result.ok == result.requests == 50 and result.errors == {}


def test_without_the_client_certificate_or_with_another_ca_nothing_succeeds(tls_server: str,
                                                                            pki: dict[str, Path]) -> None:
    result = run(tls_server, tls=True, ca_file=str(pki["ca"])).load  # type: ignore[attr-defined]
    assert result.ok == 0 and set(result.errors) == {"grpc_unavailable"}  # the handshake is refused
    result = run(tls_server, tls=True, ca_file=str(pki["other_ca"]), cert_file=str(pki["client_cert"]),
                 key_file=str(pki["client_key"])).load  # type: ignore[attr-defined]
    assert result.ok == 0 and set(result.errors) == {"grpc_unavailable"}  # the server is not trusted


def test_plaintext_against_tls_fails_and_a_missing_ca_file_is_a_config_error(tls_server: str) -> None:
    result = run(tls_server).load  # type: ignore[attr-defined]
    assert result.ok == 0 and set(result.errors) == {"grpc_unavailable"}
    with pytest.raises(HftperfError, match="ca_file"):
        run(tls_server, tls=True, ca_file="/nowhere/ca.pem")
    with pytest.raises(HftperfError, match="tls = true"):
        config = ScenarioConfig(name="t", kind="grpc", warmup_s=0.0, duration_s=1.0, seed=1, thresholds=(),
                                params={"method": "a.B/C", "ca_file": "x"})
        config.parse_params(GrpcCallParams)
    assert dataclasses.is_dataclass(GrpcCallParams)
