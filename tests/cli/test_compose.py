"""docker-compose.yml describes the deployment the code supports: its commands parse, its settings exist."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.cli import build_parser
from bot.config import Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"


@pytest.fixture(scope="module")
def services() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))["services"]


def setting_names() -> set[str]:
    return {"CIVICBOT_" + name.upper() for name in Settings.model_fields}


def test_the_deployment_has_its_services(services: dict[str, Any]) -> None:
    assert {"db", "redis", "proxy", "worker", "scheduler"} <= services.keys()
    assert "postgres" in services["db"]["image"] and "nginx" in services["proxy"]["image"]
    webs = [name for name, s in services.items() if s.get("command", [])[-2:] == ["--role", "web"]]
    assert len(webs) == 2
    for name in ("db", "redis", "proxy", *webs):
        assert "healthcheck" in services[name], name
    nginx = (ROOT / services["proxy"]["volumes"][0].split(":")[0]).read_text(encoding="utf-8")
    for web in webs:
        assert f"server {web}:8081" in nginx and f"server {web}:8080" in nginx  # webhook, web chat
    assert "proxy_set_header Upgrade $http_upgrade" in nginx


def test_workers_and_schedulers_are_checked_by_their_heartbeat(services: dict[str, Any]) -> None:
    """They serve no HTTP: their health check is the heartbeat file their ``civicbot run`` touches."""
    for name in ("worker", "scheduler"):
        service = services[name]
        assert service["healthcheck"]["test"] == ["CMD", "python", "-m", "bot.health"], name
        assert str(service["environment"]["CIVICBOT_HEARTBEAT_FILE"]).startswith("/"), name


def test_every_command_is_one_the_cli_accepts(services: dict[str, Any]) -> None:
    parser = build_parser()
    roles = {}
    for name, service in services.items():
        command = service.get("command")
        if not command or command[0] != "civicbot":
            continue
        args = parser.parse_args(command[1:])  # exits (fails the test) on anything `civicbot` rejects
        if args.command == "run":
            roles[name] = args.role
    assert sorted(roles.values()) == ["scheduler", "web", "web", "worker"]


def test_environment_names_and_settings_match_both_ways(services: dict[str, Any]) -> None:
    known = setting_names()
    text = COMPOSE.read_text(encoding="utf-8")
    for name, service in services.items():
        used = {key for key in service.get("environment", {}) if key.startswith("CIVICBOT_")}
        assert used <= known, (name, used - known)
        if service.get("command", [None])[0] == "civicbot":
            assert used == known, (name, known - used)  # every setting can be given to every process
    interpolated = set(re.findall(r"\$\{(CIVICBOT_[A-Z_]+)", text))
    assert interpolated <= known, interpolated - known


def test_media_go_to_a_bucket_that_exists_before_any_process_starts(services: dict[str, Any]) -> None:
    env = services["worker"]["environment"]
    assert env["CIVICBOT_MEDIA_S3_URL"] == "http://minio:9000" and "healthcheck" in services["minio"]
    made = " ".join(services["media-bucket"]["command"])
    assert f"mc mb --ignore-existing local/{env['CIVICBOT_MEDIA_S3_BUCKET']}" in made
    assert services["media-bucket"]["depends_on"]["minio"]["condition"] == "service_healthy"
    # every civicbot process waits for the bucket: migrate does, and the others wait for migrate
    assert services["migrate"]["depends_on"]["media-bucket"]["condition"] == "service_completed_successfully"
    for name, service in services.items():
        if service.get("command", [None])[0] == "civicbot" and name != "migrate":
            assert "migrate" in service["depends_on"], name
    assert env["CIVICBOT_MEDIA_S3_SECRET_KEY"].startswith("${MINIO_ROOT_PASSWORD:?")


def test_secrets_come_from_the_environment(services: dict[str, Any]) -> None:
    env = services["worker"]["environment"]
    for name in ("CIVICBOT_TELEGRAM_TOKEN", "CIVICBOT_TELEGRAM_WEBHOOK_SECRET"):
        assert str(env[name]).startswith("${" + name + ":?"), name
    assert "${POSTGRES_PASSWORD:?" in env["CIVICBOT_DATABASE_URL"]
