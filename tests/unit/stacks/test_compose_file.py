"""The compose file parser: the supported subset, interpolation, and one clear error per bad file."""

from __future__ import annotations

from pathlib import Path

import pytest

from hftperf.errors import ConfigError
from hftperf.stacks.compose_file import PortBinding, load_compose, start_order
from hftperf.stacks.interpolate import interpolate


def write(tmp_path: Path, text: str, env: str | None = None) -> Path:
    (tmp_path / "svc").mkdir(exist_ok=True)
    if env is not None:
        (tmp_path / ".env").write_text(env)
    path = tmp_path / "docker-compose.yml"
    path.write_text(text)
    return path


FULL = """
name: shop
x-common: &common
  environment: {A: "1"}
services:
  api:
    build: {context: ./svc, dockerfile: Dockerfile, args: {BASE_IMAGE: "${BASE:-base:1}"}}
    command: python3 -m app --port ${PORT:-8000}
    entrypoint: ["/bin/sh", "-c"]
    environment: [X=1, "Y=${Y_VALUE}"]
    env_file: app.env
    ports: ["${API_PORT:-18080}:8000", "127.0.0.1::9000", "7000"]
    expose: ["8000"]
    depends_on: {db: {condition: service_healthy}}
    volumes: ["data:/data:ro", "./svc:/src"]
    networks: [back]
    working_dir: /app
    user: "1000"
  db:
    image: postgres:16
    healthcheck: {test: "pg_isready", interval: 1m30s, timeout: 500ms, retries: 5, start_period: 2s}
    networks: [back]
volumes:
  data: {}
networks:
  back:
"""


def test_full_subset_parses_with_interpolation_from_env_and_dotenv(tmp_path: Path) -> None:
    path = write(tmp_path, FULL, env="Y_VALUE=from-dotenv\nPORT=9999\n")
    (tmp_path / "app.env").write_text("# comment\nFROM_FILE='yes'\nX=0\n")
    compose = load_compose(path, environ={"API_PORT": "18181", "PORT": "7777"})
    api, db = compose.services["api"], compose.services["db"]
    assert compose.project == "shop"
    assert api.build is not None and api.build.context == (tmp_path / "svc").resolve()
    assert api.build.args == {"BASE_IMAGE": "base:1"}
    assert api.command == ("python3", "-m", "app", "--port", "7777")  # the environment wins over .env
    assert api.environment == {"FROM_FILE": "yes", "X": "1", "Y": "from-dotenv"}  # environment over env_file
    assert api.ports == (PortBinding(8000, 18181), PortBinding(9000, None, "127.0.0.1"), PortBinding(7000))
    assert api.depends_on == {"db": "service_healthy"}
    assert [m.kind for m in api.volumes] == ["volume", "bind"] and api.volumes[0].read_only
    assert db.healthcheck is not None and db.healthcheck.test == ("CMD-SHELL", "pg_isready")
    assert db.healthcheck.interval_ns == 90 * 10**9 and db.healthcheck.timeout_ns == 500 * 10**6
    assert compose.networks == ("back", "default") and compose.volumes == ("data",)
    assert start_order(compose) == ["db", "api"]


@pytest.mark.parametrize(("text", "env", "expected"), [
    ("${A:-x}", {}, "x"), ("${A:-x}", {"A": ""}, "x"), ("${A-x}", {"A": ""}, ""), ("$A/$$B", {"A": "1"}, "1/$B"),
    ("${A:-${B:-deep}}", {}, "deep"), ("${A:+set}", {"A": "1"}, "set"), ("cost $", {}, "cost $"),
])
def test_interpolation_forms(text: str, env: dict[str, str], expected: str) -> None:
    assert interpolate(text, env, "f") == expected


def test_required_variable_names_itself() -> None:
    with pytest.raises(ConfigError, match="variable TOKEN is required: set it"):
        interpolate("${TOKEN:?set it}", {}, "f")


@pytest.mark.parametrize(("text", "message"), [
    ("services:\n  api:\n    image: x\n    restart: always\n",
     r"services\.api: key 'restart' is not supported by hftperf \(service api"),
    ("services:\n  api:\n    command: x\n", r"services\.api: needs 'image' or 'build'"),
    ("services:\n  a:\n    image: x\n    depends_on: [b]\n  b:\n    image: x\n    depends_on: [a]\n",
     r"dependency cycle a -> b -> a"),
    ("services:\n  a:\n    image: x\n    depends_on: [nope]\n", r"no service named 'nope'"),
    ("services:\n  a:\n    image: x\n    volumes: ['data:/d']\n", r"volume 'data' is not declared"),
    ("services:\n  a:\n    image: x\n    ports: ['1000-1002:80']\n", r"ranges are not supported"),
    ("services:\n  a:\n    image: x\n    healthcheck: {test: [CMD, x], interval: soon}\n", r"healthcheck\.interval"),
    ("services:\n  a:\n    image: x\n    healthcheck: {test: [CMD, x], retry: 3}\n", r"key 'retry' is not supported"),
    ("services:\n  a:\n    image: x\nconfigs: {}\n", r"top-level key 'configs' is not supported"),
    ("services:\n  a:\n    image: x\n    network_mode: 'service:b'\n", r"network_mode"),
    ("services:\n  a:\n    image: x\nnetworks:\n  n: {external: true}\n", r"networks\.n: external"),
    ("services: [a]\n", r"'services' must be a mapping"),
    ("services:\n  a: {image: x\n", r"not valid YAML at line"),
])
def test_bad_files_fail_with_one_line_naming_the_key(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        load_compose(write(tmp_path, text), environ={})
    assert "\n" not in str(caught.value)
    assert str(tmp_path / "docker-compose.yml") in str(caught.value)


def test_extension_keys_are_allowed(tmp_path: Path) -> None:
    compose = load_compose(write(tmp_path, "x-top: 1\nservices:\n  a:\n    image: x\n    x-note: hi\n"), environ={})
    assert list(compose.services) == ["a"]
