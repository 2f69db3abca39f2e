"""manifest.yml is a valid Slack app manifest."""

import json

import pytest
import yaml
from jsonschema import Draft7Validator

from tests.conftest import ROOT

SCHEMA = ROOT.parent / "shared" / "slack-specs" / "manifest.schema.1.0.0.json"


def load_manifest() -> dict:
    return yaml.safe_load((ROOT / "manifest.yml").read_text(encoding="utf-8"))


@pytest.mark.skipif(not SCHEMA.exists(), reason="Slack's manifest schema is not beside the repo")
def test_manifest_matches_slacks_public_schema():
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    validator_class = Draft7Validator
    errors = sorted(validator_class(schema).iter_errors(load_manifest()), key=str)
    assert [f"{list(e.absolute_path)}: {e.message}" for e in errors] == []


def test_manifest_declares_the_learn_command_and_socket_mode():
    manifest = load_manifest()
    commands = [c["command"] for c in manifest["features"]["slash_commands"]]
    assert commands == ["/learn"]
    assert manifest["settings"]["socket_mode_enabled"] is True
    assert manifest["features"]["app_home"]["home_tab_enabled"] is True
