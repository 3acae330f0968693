// See StorytellerNpcLine.h for what this component does and the TurboLink naming it assumes.
#include "StorytellerNpcLine.h"

#include "TurboLinkGrpcManager.h"
#include "TurboLinkGrpcUtilities.h"
#include "SStorytellerV1/NarrativeClient.h"
#include "SStorytellerV1/NarrativeService.h"

DEFINE_LOG_CATEGORY_STATIC(LogStoryteller, Log, All);

void UStorytellerNpcLine::BeginPlay()
{
	Super::BeginPlay();

	// The endpoint of "NarrativeService" comes from Project Settings > TurboLink Grpc > Services Config.
	UTurboLinkGrpcManager* Manager = UTurboLinkGrpcUtilities::GetTurboLinkGrpcManager(this);
	if (Manager == nullptr)
	{
		UE_LOG(LogStoryteller, Error, TEXT("TurboLink gRPC manager not available: is the TurboLink plugin enabled?"));
		return;
	}
	NarrativeService = Cast<UNarrativeService>(Manager->MakeService(TEXT("NarrativeService")));
	if (NarrativeService == nullptr)
	{
		UE_LOG(LogStoryteller, Error, TEXT("No TurboLink service class for NarrativeService: generate the code from proto/ (README.md)."));
		return;
	}
	NarrativeService->OnServiceStateChanged.AddUniqueDynamic(this, &UStorytellerNpcLine::HandleServiceStateChanged);
	NarrativeService->Connect();

	NarrativeClient = NarrativeService->MakeClient();
	NarrativeClient->OnStartSessionResponse.AddUniqueDynamic(this, &UStorytellerNpcLine::HandleStartSessionResponse);
	NarrativeClient->OnNpcLineResponse.AddUniqueDynamic(this, &UStorytellerNpcLine::HandleNpcLineResponse);
	NarrativeClient->OnContextStateChange.AddUniqueDynamic(this, &UStorytellerNpcLine::HandleContextStateChange);

	if (bSpeakOnBeginPlay)
	{
		Speak();
	}
}

void UStorytellerNpcLine::EndPlay(const EEndPlayReason::Type EndPlayReason)
{
	// Cancel first, so that the server stops generating for an actor that is gone.
	CancelLine();
	if (NarrativeClient != nullptr)
	{
		NarrativeClient->TryCancel(StartSessionHandle);
		NarrativeClient->OnStartSessionResponse.RemoveAll(this);
		NarrativeClient->OnNpcLineResponse.RemoveAll(this);
		NarrativeClient->OnContextStateChange.RemoveAll(this);
		NarrativeClient->Shutdown();
	}
	if (NarrativeService != nullptr)
	{
		NarrativeService->OnServiceStateChanged.RemoveAll(this);
		if (NarrativeClient != nullptr)
		{
			NarrativeService->RemoveClient(NarrativeClient);
		}
		if (UTurboLinkGrpcManager* Manager = UTurboLinkGrpcUtilities::GetTurboLinkGrpcManager(this))
		{
			Manager->ReleaseService(NarrativeService);
		}
	}
	NarrativeClient = nullptr;
	NarrativeService = nullptr;
	Super::EndPlay(EndPlayReason);
}

void UStorytellerNpcLine::Speak()
{
	if (NarrativeClient == nullptr || bStreaming)
	{
		return;
	}
	// TurboLink calls go out once the channel is connected; until then, remember the request.
	if (NarrativeService->GetServiceState() != EGrpcServiceState::Ready)
	{
		bSpeakWhenReady = true;
		return;
	}
	bSpeakWhenReady = false;
	if (SessionId.IsEmpty())
	{
		StartSession();
	}
	else
	{
		StreamLine();
	}
}

void UStorytellerNpcLine::CancelLine()
{
	if (NarrativeClient != nullptr && bStreaming)
	{
		bCancelled = true;
		NarrativeClient->TryCancel(NpcLineHandle);
	}
}

void UStorytellerNpcLine::StartSession()
{
	FGrpcStorytellerV1StartSessionRequest Request;
	Request.GraphId = GraphId;

	StartSessionHandle = NarrativeClient->InitStartSession();
	NarrativeClient->StartSession(StartSessionHandle, Request, MakeMetaData(), DeadlineSeconds);
}

void UStorytellerNpcLine::StreamLine()
{
	FGrpcStorytellerV1NpcLineRequest Request;
	Request.SessionId = SessionId;
	Request.CharacterId = CharacterId;
	Request.ListenerId = ListenerId;
	Request.Intent = Intent;
	Request.Situation = Situation;
	Request.Sampling.Temperature = Temperature;
	Request.Sampling.MaxTokens = MaxTokens;
	Request.ApplyToState = bApplyToState;

	Line.Reset();
	bStreaming = true;
	bCancelled = false;
	NpcLineHandle = NarrativeClient->InitNpcLine();
	NarrativeClient->NpcLine(NpcLineHandle, Request, MakeMetaData(), DeadlineSeconds);
}

FGrpcMetaData UStorytellerNpcLine::MakeMetaData() const
{
	FGrpcMetaData MetaData;
	if (!BearerToken.IsEmpty())
	{
		// gRPC metadata keys are lower case on the wire.
		MetaData.MetaData.Add(TEXT("authorization"), FString::Printf(TEXT("Bearer %s"), *BearerToken));
	}
	return MetaData;
}

void UStorytellerNpcLine::Fail(const FString& Code, const FString& Message)
{
	bStreaming = false;
	UE_LOG(LogStoryteller, Error, TEXT("Storyteller: %s: %s"), *Code, *Message);
	OnLineFailed.Broadcast(Code, Message);
}

void UStorytellerNpcLine::HandleServiceStateChanged(EGrpcServiceState NewState)
{
	if (NewState == EGrpcServiceState::Ready && bSpeakWhenReady)
	{
		Speak();
	}
	else if (NewState == EGrpcServiceState::TransientFailure)
	{
		UE_LOG(LogStoryteller, Warning, TEXT("Cannot reach the Storyteller server yet (check the NarrativeService endpoint, TLS settings); retrying."));
	}
}

void UStorytellerNpcLine::HandleStartSessionResponse(FGrpcContextHandle Handle, const FGrpcResult& GrpcResult, const FGrpcStorytellerV1StartSessionResponse& Response)
{
	if (Handle.Value != StartSessionHandle.Value)
	{
		return;
	}
	if (GrpcResult.Code != EGrpcResultCode::Ok)
	{
		// e.g. NotFound: the server holds no graph GraphId.
		Fail(GrpcResult.GetCodeString(), GrpcResult.GetMessageString());
		return;
	}
	const FGrpcStorytellerV1Session& Session = Response.Session;
	SessionId = Session.SessionId;
	if (CharacterId.IsEmpty())
	{
		for (const FGrpcStorytellerV1CharacterState& Character : Session.Characters)
		{
			if (Character.Present && !Character.Removed && Character.CharacterId != TEXT("player"))
			{
				CharacterId = Character.CharacterId;
				break;
			}
		}
	}
	if (CharacterId.IsEmpty())
	{
		Fail(TEXT("NoSpeaker"), FString::Printf(TEXT("nobody but the player is present in beat '%s'"), *Session.CurrentBeat.BeatId));
		return;
	}
	StreamLine();
}

void UStorytellerNpcLine::HandleNpcLineResponse(FGrpcContextHandle Handle, const FGrpcResult& GrpcResult, const FGrpcStorytellerV1GenerationChunk& Chunk)
{
	if (Handle.Value != NpcLineHandle.Value || !bStreaming)
	{
		return;
	}
	if (GrpcResult.Code != EGrpcResultCode::Ok)
	{
		if (bCancelled && GrpcResult.Code == EGrpcResultCode::Cancelled)
		{
			bStreaming = false;
			return;
		}
		// NotFound (session or character), FailedPrecondition (character not in the current beat),
		// Unauthenticated (token), Unavailable (generation model not loaded), DeadlineExceeded, ...
		Fail(GrpcResult.GetCodeString(), GrpcResult.GetMessageString());
		return;
	}

	// Every message but the last carries a piece of the line; a delta never splits a UTF-8 character.
	Line += Chunk.TextDelta;
	OnTextDelta.Broadcast(Chunk.TextDelta, Line);

	if (Chunk.Done)
	{
		bStreaming = false;
		const FGrpcStorytellerV1GenerationSummary& Summary = Chunk.Summary;
		TArray<FString> WarningCodes;
		for (const FGrpcStorytellerV1CoherenceWarning& Warning : Summary.Warnings)
		{
			// e.g. "absent-character", "unknown-fact", "emotion-off-arc": the line may not fit the story.
			UE_LOG(LogStoryteller, Warning, TEXT("Coherence warning %s: %s"), *Warning.Code, *Warning.Message);
			WarningCodes.Add(Warning.Code);
		}
		if (Summary.FinishReason == EGrpcStorytellerV1FinishReason::FINISH_REASON_CONTEXT_FULL)
		{
			UE_LOG(LogStoryteller, Warning, TEXT("The model's context window is full; the line was cut."));
		}
		UE_LOG(LogStoryteller, Log, TEXT("Line finished: %d tokens, first token after %.0f ms, seed %llu; reads as %s (%s)."),
			Summary.CompletionTokens, Summary.TimeToFirstTokenMs, Summary.Seed.Value,
			*Summary.DetectedEmotion.TopEkman, *Summary.DetectedEmotion.TopLabel);
		OnLineFinished.Broadcast(Line, Summary.DetectedEmotion.TopEkman, WarningCodes);
	}
}

void UStorytellerNpcLine::HandleContextStateChange(FGrpcContextHandle Handle, EGrpcContextState NewState)
{
	// A stream can end without a last message carrying its status (TurboLink does not always report
	// the final status of a server stream): a line still marked as streaming here never got its summary.
	if (Handle.Value == NpcLineHandle.Value && NewState == EGrpcContextState::Done && bStreaming)
	{
		if (bCancelled)
		{
			bStreaming = false;
			return;
		}
		Fail(TEXT("Incomplete"), TEXT("the NpcLine stream ended before its summary"));
	}
}
