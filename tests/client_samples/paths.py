"""Where the contract and the two client samples are in the repository."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROTO_ROOT = ROOT / "proto"
PROTO_DIR = PROTO_ROOT / "storyteller" / "v1"
UNITY = ROOT / "samples" / "clients" / "unity"
UNREAL = ROOT / "samples" / "clients" / "unreal"
CS_FILES = (UNITY / "StorytellerClient.cs", UNITY / "NpcLineSpeaker.cs")
CPP_FILES = (UNREAL / "StorytellerNpcLine.h", UNREAL / "StorytellerNpcLine.cpp")
