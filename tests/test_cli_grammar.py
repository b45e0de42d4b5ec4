"""One CLI grammar: the same flag means the same thing in every command."""

from __future__ import annotations

import argparse

import pytest

from audit.cli import build_parser


def leaves(parser: argparse.ArgumentParser, path=()):
    """Every runnable (sub)command parser, by its command path."""
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield path, parser
        return
    for name, sub in subs[0].choices.items():
        yield from leaves(sub, (*path, name))


COMMANDS = {" ".join(p): parser for p, parser in leaves(build_parser())}
#: Commands that write files.
WRITERS = ["world build", "world sheet", "train labeler", "train generator", "eval generator", "dataset audit",
           "label", "generate", "probe run", "report", "baseline", "demo"]
#: Commands with progress bars.
PROGRESS = ["world build", "train labeler", "train generator", "eval generator", "dataset audit", "label",
            "generate", "probe run"]


def options(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    return {o: a for a in parser._actions for o in a.option_strings}


@pytest.mark.parametrize("command", WRITERS)
def test_every_writing_command_takes_out(command):
    assert "--out" in options(COMMANDS[command]), command


@pytest.mark.parametrize("command", PROGRESS)
def test_no_progress_and_its_hidden_alias(command):
    opts = options(COMMANDS[command])
    assert opts["--no-progress"].dest == opts["--quiet"].dest == "no_progress"
    assert opts["--quiet"].help == argparse.SUPPRESS


def test_a_flag_means_one_thing_everywhere():
    """Flags shared by several commands share their destination (and so their meaning)."""
    dests: dict[str, set[str]] = {}
    for parser in COMMANDS.values():
        for flag, action in options(parser).items():
            dests.setdefault(flag, set()).add(action.dest)
    shared = {f: d for f, d in dests.items() if len(d) > 1}
    assert shared == {}, shared
    # the Dask scheduler address and the sampler's scheduler are different flags
    assert options(COMMANDS["probe run"])["--dask-scheduler"].dest == "dask_scheduler"
    assert options(COMMANDS["generate"])["--scheduler"].dest == "scheduler"


def test_labeler_flags_are_the_same_in_label_probe_run_and_dataset_audit():
    flags = {"--device", "--world-weights", "--no-faces", "--mst-match", "--clip-model", "--clip-prompts",
             "--deepface-home", "--deepface-detector", "--deepface-backend", "--deepface-actions", "--allow-download"}
    for command in ("label", "probe run", "dataset audit"):
        assert flags <= set(options(COMMANDS[command])), command
