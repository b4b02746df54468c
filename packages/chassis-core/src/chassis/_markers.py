"""The pluggy markers, kept apart so that hookspecs and plugins import nothing heavy."""

import pluggy

PROJECT_NAME = "chassis"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)
