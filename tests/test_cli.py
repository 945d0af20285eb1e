"""The command line: the main job runs end to end; without Java it stops with one line."""
import os
import subprocess
import sys

from mli.apps import cli


def test_quickstart_runs_end_to_end(ctx, capsys):
    assert cli.main(["quickstart", "--rows", "3000", "--cols", "5", "--max-iter", "5",
                     "--master", ctx.sc.master]) == 0
    out = capsys.readouterr().out
    assert "iteration   1" in out and "held-out accuracy" in out
    acc = float(out.rsplit("held-out accuracy", 1)[1].split()[0])
    assert acc > 0.85


def test_without_java_one_line_says_how_to_install_it(tmp_path):
    bindir = os.path.dirname(sys.executable)
    env = dict(os.environ, PATH=bindir, JAVA_HOME=str(tmp_path / "no-java"))
    env.pop("PYSPARK_GATEWAY_PORT", None)
    out = subprocess.run([sys.executable, "-m", "mli.apps.cli", "quickstart"], capture_output=True,
                         text=True, env=env, timeout=120)
    assert out.returncode == 2
    lines = [ln for ln in (out.stdout + out.stderr).splitlines() if ln.strip()]
    assert len(lines) == 1, lines
    assert "Java 17" in lines[0] and "install" in lines[0].lower()
    assert "Traceback" not in out.stderr


def test_bad_arguments_exit_with_usage():
    try:
        cli.main(["quickstart", "--rows", "many"])
    except SystemExit as exc:
        assert exc.code == 2
    else:
        raise AssertionError("argparse should reject --rows many")
