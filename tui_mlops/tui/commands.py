"""Command palette provider (`:` or ctrl+p): go to a screen, add data, inbox and store chores, quit."""

from __future__ import annotations

from functools import partial
from typing import Callable

from textual.command import DiscoveryHit, Hit, Hits, Provider

from tui_mlops.tui.screens import MODES


class MlopsCommands(Provider):
    """The app's own commands; each runs an app action so keys and palette stay in step."""

    def _commands(self) -> list[tuple[str, str, Callable[[], object]]]:
        app = self.app
        run = app.run_action
        cmds: list[tuple[str, str, Callable[[], object]]] = [
            (f"Go to {label}", f"Switch to the {label} screen (key {key})",
             partial(run, f"switch_mode('{mode}')"))
            for mode, key, label in MODES
        ]
        cmds += [
            ("New training", "Open the training form (key n on Experiments)",
             partial(run, "mode_action('experiments', 'train')")),
            ("New sweep", "Open the sweep form: many trainings over a parameter space (key w on "
             "Experiments)", partial(run, "mode_action('experiments', 'sweep')")),
            ("Show active jobs", "The Jobs screen with only queued and running jobs (key a on Jobs)",
             partial(run, "show_jobs(True)")),
            ("Show all jobs", "The Jobs screen with every job, newest first",
             partial(run, "show_jobs(False)")),
            ("Find crashed jobs", "Mark runs whose process is gone as crashed now (the app also "
             "checks every 5 s)", partial(run, "find_crashes")),
            ("Add dataset", "Register a file or folder as a dataset version (key a on Datasets)",
             partial(run, "add_dataset")),
            ("Process inbox", "Register every file waiting in the inbox folder now",
             partial(run, "process_inbox")),
            ("Rebuild catalog", "Recreate the catalog index from the dataset files alone",
             partial(run, "rebuild_catalog")),
            ("Check store", "Verify every snapshot against its fingerprint and the catalog",
             partial(run, "check_store")),
            ("Show keys", "List every key active on this screen (key ?)", partial(run, "help")),
            ("Quit", "Leave mlops-tui (key q)", partial(run, "quit")),
        ]
        return cmds

    async def discover(self) -> Hits:
        for title, help_text, callback in self._commands():
            yield DiscoveryHit(title, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, help_text, callback in self._commands():
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), callback, help=help_text)
