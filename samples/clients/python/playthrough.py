"""Plays a sample quest to an ending: narration, NPC lines and choices, all over gRPC.

    python samples/clients/python/playthrough.py [--address 127.0.0.1:50051] [--graph lighthouse_mystery]
                                                 [--seed 7] [--token T]

Each turn: Narrate the current beat (streamed, printed as it arrives), let one NPC in the beat speak
to the player (NpcLine, streamed, its emotion fed back into the session), list the choices and take
one: a seeded random pick among the available ones, preferring beats not visited yet. Stops at an
ending (exit code 0) or after MAX_TURNS (exit code 1). Without a story model on the server, Narrate
and NpcLine answer UNAVAILABLE: the script then plays on without prose. The last line printed is a
JSON summary, e.g. {"ending": "ending_truth", "steps": 6, "lines": 5, "prose": true}.
"""

from __future__ import annotations

import argparse
import json
import random
import sys

import grpc

from storyteller.v1 import common_pb2, narrative_pb2_grpc
from storyteller.v1 import narrative_pb2 as pb

MAX_TURNS = 50
INTENTS = (pb.NPC_INTENT_GREET, pb.NPC_INTENT_INFORM, pb.NPC_INTENT_WARN)


def stream(call) -> tuple[str, common_pb2.GenerationSummary]:
    """Prints a generation's text deltas as they arrive; returns the text and the final summary."""
    text = []
    for chunk in call:
        print(chunk.text_delta, end="", flush=True)
        text.append(chunk.text_delta)
        if chunk.done:
            print()
            return "".join(text), chunk.summary
    print()
    return "".join(text), common_pb2.GenerationSummary()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--address", default="127.0.0.1:50051")
    parser.add_argument("--graph", default="lighthouse_mystery", help="graph id (see NarrativeService.ListGraphs)")
    parser.add_argument("--seed", type=int, default=7, help="non-negative; same seed, same server: same playthrough")
    parser.add_argument("--token", help="bearer token, when the server requires one")
    args = parser.parse_args()
    metadata = (("authorization", f"Bearer {args.token}"),) if args.token else ()
    rng = random.Random(args.seed)

    with grpc.insecure_channel(args.address) as channel:
        narrative = narrative_pb2_grpc.NarrativeServiceStub(channel)
        session = narrative.StartSession(
            pb.StartSessionRequest(graph_id=args.graph), metadata=metadata, timeout=10
        ).session
        sid = session.session_id
        print(f"session {sid} on {session.graph_id}")
        prose, lines, steps = True, 0, 0

        for turn in range(MAX_TURNS):
            beat = session.current_beat
            print(f"\n== {beat.beat_id} ({beat.location}): {beat.summary}")
            sampling = common_pb2.SamplingParams(temperature=0.8, top_k=40, max_tokens=48, seed=args.seed + turn + 1)

            if prose:
                try:
                    stream(narrative.Narrate(pb.NarrateRequest(session_id=sid, sampling=sampling),
                                             metadata=metadata, timeout=60))
                except grpc.RpcError as exc:
                    if exc.code() != grpc.StatusCode.UNAVAILABLE:
                        raise
                    print(f"(no story model on the server: {exc.details()}; playing on without prose)")
                    prose = False

            present = [c.character_id for c in session.characters if c.present and not c.removed]
            speakers = [c for c in beat.character_ids if c in present]
            if prose and speakers and not session.ended:  # an ended session takes no more changes
                speaker = speakers[turn % len(speakers)]
                intent = INTENTS[turn % len(INTENTS)]
                print(f"{speaker} ({pb.NpcIntent.Name(intent)}): ", end="")
                request = pb.NpcLineRequest(
                    session_id=sid, character_id=speaker, intent=intent, sampling=sampling, apply_to_state=True
                )
                _, summary = stream(narrative.NpcLine(request, metadata=metadata, timeout=60))
                lines += 1
                emotion = summary.detected_emotion
                print(f"   emotion: {emotion.top_ekman or '-'} ({emotion.top_label or '-'})")
                for warning in summary.warnings:
                    print(f"   warning {warning.code}: {warning.message}")
                # The line changed the speaker's state (and the session's step): read it again.
                request = pb.GetSessionRequest(session_id=sid)
                session = narrative.GetSession(request, metadata=metadata, timeout=10).session

            if session.ended:
                break

            request = pb.ListChoicesRequest(session_id=sid)
            choices = narrative.ListChoices(request, metadata=metadata, timeout=10).choices
            available = [c for c in choices if c.available]
            if not available:
                print(f"dead end at {beat.beat_id}: no choice available")
                break
            fresh = [c for c in available if c.to_beat_id not in session.visited]
            choice = rng.choice(fresh or available)
            print(f"-> {choice.text} [{choice.choice_id}]")
            request = pb.ChooseRequest(session_id=sid, choice_id=choice.choice_id, expected_step=session.step)
            session = narrative.Choose(request, metadata=metadata, timeout=10).session
            steps += 1

    ending = session.current_beat.beat_id if session.ended else ""
    print(f"\nending: {ending} after {steps} choices" if ending else f"\nno ending reached after {steps} choices")
    print(json.dumps({"ending": ending, "steps": steps, "lines": lines, "prose": prose}))
    return 0 if ending else 1


if __name__ == "__main__":
    sys.exit(main())
