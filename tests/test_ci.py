"""CI runs the README's test command, exactly as the README gives it."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_ci_runs_the_readme_test_command() -> None:
    section = (ROOT / "README.md").read_text().split("## Development\n", 1)[1]
    found = re.search(r"^```bash\n(.*?)\n```", section, re.MULTILINE | re.DOTALL)
    assert found is not None, "the Development section has no bash block"
    (command,) = found.group(1).splitlines()  # one line
    lines = (ROOT / ".ci" / "run").read_text().splitlines()
    commands = [line for line in lines if line and not line.startswith(("#", "set ", "cd "))]
    assert commands == [command]
    # It installs its own tools into a git-ignored folder, then runs the sessions.
    assert command.startswith("python3 -m venv .nox-tools && ")
    assert command.endswith("nox -s tests typecheck")
    assert ".nox-tools/" in (ROOT / ".gitignore").read_text().splitlines()
