"""The C# side: its lexer, and mistakes put into copies of the Unity sample."""

from __future__ import annotations

import pytest

from tests.client_samples.source_text import strip_source, tokenize


def test_comments_and_strings_are_not_code():
    code = strip_source('a = "x.Foo"; // y.Bar\n/* z.Baz */ b = $"{c.Qux:F0} {{d.No}}" + @"e.""f"".No";', csharp=True)
    names = {t.text for t in tokenize(code, "x")}
    assert {"a", "b", "c", "Qux"} <= names
    assert not names & {"Foo", "Bar", "Baz", "F0", "No", "f"}


# (file, [(text in the sample, replacement)], what the report must mention)
SAMPLE_EDITS = {
    "C# field typo": ("NpcLineSpeaker.cs", [("text += chunk.TextDelta", "text += chunk.Text")],
                      "`Text`: message GenerationChunk has no such field"),
    "C# initializer field": ("NpcLineSpeaker.cs", [("SessionId = sessionId,", "Session = sessionId,")],
                             "`Session`: message NpcLineRequest has no such field"),
    "C# var inferred": ("NpcLineSpeaker.cs", [("GenerationChunk chunk = call", "var chunk = call"),
                                              ("if (chunk.Done)", "if (chunk.Finished)")],
                        "`Finished`: message GenerationChunk has no such field"),
    "C# untyped value": ("NpcLineSpeaker.cs", [("EmotionScores emotion =", "object emotion =")],
                         "`TopEkman`: unknown member"),
    "C# Async on a stream": ("NpcLineSpeaker.cs", [("client.Narrative.NpcLine(", "client.Narrative.NpcLineAsync(")],
                             "`NpcLineAsync`: the C# client of NarrativeService has no such member"),
    "C# wrong service": ("NpcLineSpeaker.cs", [("client.Narrative.NpcLine(", "client.Story.NpcLine(")],
                         "`NpcLine`: the C# client of StoryService has no such member"),
    "C# wrong request": ("NpcLineSpeaker.cs", [("NpcLineRequest request = new NpcLineRequest",
                                               "StartSessionRequest request = new StartSessionRequest")],
                         "request of NarrativeService.NpcLine: expected message NpcLineRequest, "
                         "got message StartSessionRequest"),
    "C# enum value": ("NpcLineSpeaker.cs", [("= NpcIntent.Greet;", "= NpcIntent.Hello;")],
                      "`Hello`: enum NpcIntent has no such value"),
    "C# loop variable": ("NpcLineSpeaker.cs", [("foreach (CoherenceWarning warning", "foreach (Diagnostic warning")],
                         "loop variable `warning`: expected message Diagnostic, got message CoherenceWarning"),
    "C# unclosed parenthesis": ("NpcLineSpeaker.cs", [("if (chunk.Done)", "if (chunk.Done")], "`(` is never closed"),
}  # fmt: skip


@pytest.mark.parametrize("edit", SAMPLE_EDITS.values(), ids=SAMPLE_EDITS.keys())
def test_a_wrong_name_in_a_sample_is_reported(edit, check_edited_samples):
    """The other way round: the same checker, on copies of the samples with one mistake put in."""
    file, replacements, expected = edit
    problems = check_edited_samples(file, replacements)
    assert any(expected in p for p in problems), "\n".join(problems) or "nothing reported"
