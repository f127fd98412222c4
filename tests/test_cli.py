"""The command line as a newcomer meets it."""

import subprocess
import sys

import pytest
from click.testing import CliRunner

from unseen.cli.main import cli

COMMANDS = ["keygen", "psi", "lr", "secureboost", "predict", "demo"]


def test_help_lists_every_command():
    out = CliRunner().invoke(cli, ["--help"])
    assert out.exit_code == 0
    for c in COMMANDS:
        assert c in out.output


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command):
    out = CliRunner().invoke(cli, [command, "--help"])
    assert out.exit_code == 0 and "Usage:" in out.output


def test_keygen_then_psi_with_a_bad_parties_file(tmp_path):
    r = CliRunner().invoke(
        cli, ["keygen", "bank", "--address", "127.0.0.1:7001", "--dir", str(tmp_path)]
    )
    assert r.exit_code == 0, r.output
    assert (tmp_path / "bank.key").exists() and (tmp_path / "parties.toml").exists()
    r = CliRunner().invoke(
        cli,
        [
            "psi",
            "--as",
            "bank",
            "--parties",
            str(tmp_path / "nope.toml"),
            "--input",
            "x.csv",
            "--id",
            "id",
            "--output",
            "o.csv",
        ],
    )
    assert r.exit_code == 1
    assert "parties file" in r.output and "not found" in r.output


# The demo needs only the base install: scikit-learn (a test extra) is blocked
# in its process, as on a fresh `pip install -e .`.
_WITHOUT_SKLEARN = (
    "import sys; sys.modules['sklearn'] = None; "
    "from unseen.cli.main import main; sys.argv[0] = 'unseen'; main()"
)


def test_demo_runs_end_to_end(tmp_path):
    r = subprocess.run(
        [sys.executable, "-c", _WITHOUT_SKLEARN, "demo", "--workdir", str(tmp_path / "demo")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert "rows aligned at both parties: yes (3500 common customers)" in r.stdout
    assert "vertical LR, federated (ss-dealer)" in r.stdout and "SecureBoost, federated" in r.stdout
    assert "Federated models match their plaintext baselines: yes" in r.stdout
    assert "and their credit scores (--scorecard: 600 points at 50:1 odds" in r.stdout
    assert "the lowest-scored tenth defaulted at" in r.stdout
    # the telecom's ledger of what crossed in SecureBoost: shares, no floating-point array
    assert "telecom's ledger (--traffic sbt_traffic.csv): from the bank" in r.stdout
    assert "telecom's ledger (--traffic lr_traffic.csv): from the bank" in r.stdout
    assert "array uint64" in r.stdout and "no floating-point array" in r.stdout
    assert "a floating-point array among them" not in r.stdout
