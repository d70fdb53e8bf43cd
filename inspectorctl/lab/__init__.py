"""The local practice fleet: isolated Linux hosts over real SSH (see ``lab.lab``)."""

from __future__ import annotations

from inspectorctl.lab.errors import (
    LabError,
    LabInputError,
    LabRequirementError,
    ProfileError,
    UnknownHostError,
)
from inspectorctl.lab.lab import DEFAULT_NETNS_PREFIX, DEFAULT_STATE_DIR, Lab, default_state_dir
from inspectorctl.lab.models import HostState, LabHost, TeardownReport
from inspectorctl.lab.profiles import LoadedProfile, Profile, load_profile, load_profiles
from inspectorctl.lab.requirements import Tools, check_requirements

__all__ = [
    "DEFAULT_NETNS_PREFIX",
    "DEFAULT_STATE_DIR",
    "HostState",
    "Lab",
    "LabError",
    "LabHost",
    "LabInputError",
    "LabRequirementError",
    "LoadedProfile",
    "Profile",
    "ProfileError",
    "TeardownReport",
    "Tools",
    "UnknownHostError",
    "check_requirements",
    "default_state_dir",
    "load_profile",
    "load_profiles",
]
