// Storyteller client for Unity 2021.3+: grpc-dotnet (Grpc.Net.Client) over Cysharp's
// YetAnotherHttpHandler, which brings HTTP/2 to Unity. See README.md in this folder for the
// packages to install and how to generate the Storyteller.V1 classes from proto/.
//
// One StorytellerClient holds one HTTP/2 connection; share it between scripts and dispose it
// when the last one is done (every call of both services is multiplexed on that connection).
using System;
using Cysharp.Net.Http;
using Grpc.Core;
using Grpc.Core.Interceptors;
using Grpc.Net.Client;
using Storyteller.V1;

namespace Storyteller.Samples
{
    public sealed class StorytellerClient : IDisposable
    {
        private readonly GrpcChannel channel;

        /// <summary>Plot graphs, sessions (playthroughs), narration and NPC lines.</summary>
        public NarrativeService.NarrativeServiceClient Narrative { get; }

        /// <summary>Stateless generation and emotion classification.</summary>
        public StoryService.StoryServiceClient Story { get; }

        /// <param name="address">
        /// "http://host:50051" for a plaintext server (HTTP/2 over cleartext, h2c), or
        /// "https://host:50051" when the server runs with --tls-cert/--tls-key.
        /// </param>
        /// <param name="bearerToken">
        /// One of the server's [auth] tokens; null or empty when the server has none. Sent on every
        /// call as "authorization: Bearer &lt;token&gt;".
        /// </param>
        /// <param name="rootCertificatesPem">
        /// PEM of the CA that signed the server certificate, for a self-signed or private CA;
        /// null = Mozilla's public roots (webpki-roots).
        /// </param>
        public StorytellerClient(string address, string bearerToken = null, string rootCertificatesPem = null)
        {
            // gRPC needs HTTP/2. Over plain http:// the handler would otherwise try HTTP/1.1 first,
            // which a gRPC server refuses: Http2Only = true makes it speak h2c from the first byte.
            // Over https:// HTTP/2 is negotiated by ALPN, and Http2Only changes nothing.
            var handler = new YetAnotherHttpHandler { Http2Only = true };
            if (!string.IsNullOrEmpty(rootCertificatesPem))
            {
                handler.RootCertificates = rootCertificatesPem;
            }

            channel = GrpcChannel.ForAddress(address, new GrpcChannelOptions
            {
                HttpHandler = handler,
                DisposeHttpClient = true, // the channel owns the handler: disposing it closes the connection
            });

            CallInvoker invoker = channel.CreateCallInvoker();
            if (!string.IsNullOrEmpty(bearerToken))
            {
                // Adds the token to the headers of every call, streaming ones included. (CallCredentials
                // would do the same, but grpc-dotnet only sends those over TLS.)
                string authorization = "Bearer " + bearerToken;
                invoker = invoker.Intercept(headers =>
                {
                    headers.Add("authorization", authorization);
                    return headers;
                });
            }

            Narrative = new NarrativeService.NarrativeServiceClient(invoker);
            Story = new StoryService.StoryServiceClient(invoker);
        }

        public void Dispose()
        {
            channel.Dispose();
        }
    }
}
