// A MonoBehaviour that starts a playthrough of a plot graph and streams one NPC line into a
// TextMeshPro label as the server generates it, token by token.
//
// Set-up: add it to any GameObject, drag a TextMeshProUGUI into "Line Text", set "Graph Id"
// (e.g. lighthouse_mystery, one of the server's samples/graphs) and the server address. Press Play.
//
// Every await below resumes on Unity's main thread (Unity's SynchronizationContext), so the label
// can be written from the stream loop directly. Leaving Play mode or destroying the object cancels
// the stream: the server stops generating within one token step.
using System;
using System.Threading;
using System.Threading.Tasks;
using Grpc.Core;
using Storyteller.V1;
using TMPro;
using UnityEngine;
using UnityEngine.Events;

namespace Storyteller.Samples
{
    public sealed class NpcLineSpeaker : MonoBehaviour
    {
        [Header("Server")]
        [Tooltip("http://host:port for a plaintext server, https://host:port for TLS.")]
        [SerializeField] private string address = "http://127.0.0.1:50051";

        [Tooltip("One of the server's [auth] tokens; leave empty when the server has none.")]
        [SerializeField] private string bearerToken = "";

        [Tooltip("Seconds each call may take before the server and the client give up on it.")]
        [SerializeField] private float deadlineSeconds = 30f;

        [Header("Story")]
        [Tooltip("Id of a plot graph the server holds (NarrativeService.ListGraphs lists them).")]
        [SerializeField] private string graphId = "lighthouse_mystery";

        [Tooltip("Speaking character; empty = the first character present in the start beat.")]
        [SerializeField] private string characterId = "";

        [SerializeField] private NpcIntent intent = NpcIntent.Greet;

        [Tooltip("What the line should respond to, e.g. what the player just said. May be empty.")]
        [SerializeField, TextArea] private string situation = "";

        [Tooltip("Most tokens of the line; 0 = the server's default.")]
        [SerializeField] private int maxTokens = 60;

        [Header("Output")]
        [SerializeField] private TextMeshProUGUI lineText;

        [Tooltip("Called with the Ekman emotion the finished line reads as (anger, joy, ...), e.g. to drive an Animator.")]
        [SerializeField] private UnityEvent<string> onEmotionDetected = new UnityEvent<string>();

        private readonly CancellationTokenSource cancellation = new CancellationTokenSource();
        private StorytellerClient client;

        private async void Start()
        {
            if (lineText == null)
            {
                Debug.LogError("NpcLineSpeaker: assign a TextMeshProUGUI to Line Text.", this);
                return;
            }

            client = new StorytellerClient(address, bearerToken);
            CancellationToken token = cancellation.Token;
            try
            {
                StartSessionRequest startRequest = new StartSessionRequest { GraphId = graphId };
                StartSessionResponse started = await client.Narrative.StartSessionAsync(
                    startRequest, deadline: Deadline(), cancellationToken: token);
                Session session = started.Session;

                string speakerId = string.IsNullOrEmpty(characterId) ? FirstPresentCharacter(session) : characterId;
                if (speakerId == null)
                {
                    Debug.LogWarning($"NpcLineSpeaker: nobody but the player is present in beat '{session.CurrentBeat.BeatId}'.", this);
                    return;
                }
                await SpeakAsync(session.SessionId, speakerId, token);
            }
            catch (Exception) when (token.IsCancellationRequested)
            {
                // OnDestroy cancelled the call (RpcException with StatusCode.Cancelled, or an
                // OperationCanceledException): nothing to report.
            }
            catch (RpcException e)
            {
                // NOT_FOUND: unknown graph or character; FAILED_PRECONDITION: the character is not in the
                // current beat; UNAUTHENTICATED: token missing or wrong; UNAVAILABLE: server down or model
                // not loaded. The status detail names the field or id.
                Debug.LogError($"NpcLineSpeaker: {e.StatusCode}: {e.Status.Detail}", this);
            }
        }

        private async Task SpeakAsync(string sessionId, string speakerId, CancellationToken token)
        {
            NpcLineRequest request = new NpcLineRequest
            {
                SessionId = sessionId,
                CharacterId = speakerId,
                Intent = intent,
                Situation = situation,
                Sampling = new SamplingParams { Temperature = 0.8f, TopP = 0.95f, MaxTokens = maxTokens },
            };

            lineText.text = "";
            // NpcLine is server streaming: each message carries a piece of text, the last one (Done)
            // carries the summary. Disposing the call (end of the using block) releases the stream.
            using (AsyncServerStreamingCall<GenerationChunk> call = client.Narrative.NpcLine(
                request, deadline: Deadline(), cancellationToken: token))
            {
                // With C# 8+ and Grpc.Net.Common this loop can also be written
                // `await foreach (GenerationChunk chunk in call.ResponseStream.ReadAllAsync(token))`.
                while (await call.ResponseStream.MoveNext(token))
                {
                    GenerationChunk chunk = call.ResponseStream.Current;
                    lineText.text += chunk.TextDelta;
                    if (chunk.Done)
                    {
                        Report(chunk.Summary);
                    }
                }
            }
        }

        private void Report(GenerationSummary summary)
        {
            EmotionScores emotion = summary.DetectedEmotion;
            if (emotion != null)
            {
                onEmotionDetected.Invoke(emotion.TopEkman);
            }
            Debug.Log(
                $"NpcLineSpeaker: line finished ({summary.FinishReason}, {summary.CompletionTokens} tokens, " +
                $"first token after {summary.TimeToFirstTokenMs:F0} ms, seed {summary.Seed}); " +
                $"it reads as {emotion?.TopEkman} ({emotion?.TopLabel}).", this);
            if (summary.FinishReason == FinishReason.ContextFull)
            {
                Debug.LogWarning("NpcLineSpeaker: the model's context window is full; the line was cut.", this);
            }
            foreach (CoherenceWarning warning in summary.Warnings)
            {
                // e.g. "absent-character", "unknown-fact", "emotion-off-arc": the line may not fit the story.
                Debug.LogWarning($"NpcLineSpeaker: coherence warning {warning.Code}: {warning.Message}", this);
            }
        }

        private static string FirstPresentCharacter(Session session)
        {
            foreach (CharacterState character in session.Characters)
            {
                if (character.Present && !character.Removed && character.CharacterId != "player")
                {
                    return character.CharacterId;
                }
            }
            return null;
        }

        private DateTime Deadline()
        {
            return DateTime.UtcNow.AddSeconds(deadlineSeconds);
        }

        private void OnDestroy()
        {
            // Cancels the stream (and StartSession, if it is still running); then closes the connection.
            cancellation.Cancel();
            client?.Dispose();
        }
    }
}
