"""The one place errors are rendered: usage mistakes as click shows them, no Python in the wording."""

from __future__ import annotations

import shellingham

from podreconcile.cli.main import main


def test_a_usage_mistake_exits_2_with_the_closest_command(capsys):
    assert main(["plna"]) == 2
    err = capsys.readouterr().err
    assert "Usage: podreconcile [OPTIONS] COMMAND [ARGS]..." in err
    assert "Error: No such command 'plna'. Did you mean 'plan'?" in err


def test_completion_without_a_known_shell_says_so_in_words(monkeypatch, capsys):
    def undetectable():
        raise shellingham.ShellDetectionFailure()

    monkeypatch.setattr(shellingham, "detect_shell", undetectable)
    assert main(["--install-completion"]) == 1
    err = capsys.readouterr().err
    assert "cannot tell which shell" in err and "None" not in err
