"""Text written from a story: narration and NPC lines grounded in a session's state.

It joins narrative's context, prompts and coherence checks to the story generator, and feeds a
delivered line back into the session; persistence stays in server.sessions, the decoding loop in
server.generation.
"""
