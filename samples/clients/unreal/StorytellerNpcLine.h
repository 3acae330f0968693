// An actor component that streams an NPC line from Storyteller through TurboLink.
//
// NpcLine is a server-streaming RPC, and TurboLink's async Blueprint nodes cannot call streaming
// RPCs, so the call lives here in C++; Blueprints and UMG get the text through the events below.
//
// Names of the TurboLink classes used here are those protoc-gen-turbolink generates from
// proto/storyteller/v1/*.proto (see README.md in this folder for how to generate them):
//   - package storyteller.v1 -> "StorytellerV1"; headers in Public/SStorytellerV1/<File>{Message,Service,Client}.h;
//   - message Foo            -> struct FGrpcStorytellerV1Foo;  enum Bar -> enum class EGrpcStorytellerV1Bar,
//                               whose values keep their proto names (EGrpcStorytellerV1NpcIntent::NPC_INTENT_GREET);
//   - field foo_bar          -> member FooBar (the field's JSON name, first letter upper-cased);
//                               uint64 -> FUInt64 (.Value), repeated -> TArray, message -> the struct itself;
//   - service NarrativeService -> UNarrativeService (UTurboLinkGrpcManager::MakeService("NarrativeService"))
//                               and UNarrativeServiceClient, with per RPC Foo: InitFoo(), Foo(Handle, Request,
//                               MetaData, DeadLineSeconds) and the delegate OnFooResponse(Handle, Result, Response).
// These are the conventions of TurboLink's generator templates at the time of writing; if a newer
// generator names things differently, adjust the names here (tests/test_client_samples.py checks this
// file against the .proto under exactly these conventions).
#pragma once

#include "CoreMinimal.h"
#include "Components/ActorComponent.h"
#include "TurboLinkGrpcClient.h"
#include "SStorytellerV1/NarrativeMessage.h"
#include "StorytellerNpcLine.generated.h"

class UNarrativeService;
class UNarrativeServiceClient;

DECLARE_DYNAMIC_MULTICAST_DELEGATE_TwoParams(FOnStorytellerTextDelta, const FString&, TextDelta, const FString&, LineSoFar);
DECLARE_DYNAMIC_MULTICAST_DELEGATE_ThreeParams(FOnStorytellerLineFinished, const FString&, Line, const FString&, DetectedEmotion, const TArray<FString>&, WarningCodes);
DECLARE_DYNAMIC_MULTICAST_DELEGATE_TwoParams(FOnStorytellerLineFailed, const FString&, Code, const FString&, Message);

UCLASS(ClassGroup = (Storyteller), meta = (BlueprintSpawnableComponent))
class UStorytellerNpcLine : public UActorComponent
{
	GENERATED_BODY()

public:
	// Plot graph to start a session from when SessionId is empty (NarrativeService.ListGraphs lists them).
	UPROPERTY(EditAnywhere, BlueprintReadWrite, Category = "Storyteller")
	FString GraphId = TEXT("lighthouse_mystery");

	// Session (playthrough) to speak in; filled in by StartSession when empty.
	UPROPERTY(EditAnywhere, BlueprintReadWrite, Category = "Storyteller")
	FString SessionId;

	// Speaking character; empty = the first character present in the session's current beat.
	UPROPERTY(EditAnywhere, BlueprintReadWrite, Category = "Storyteller")
	FString CharacterId;

	// Who is spoken to; empty = the player.
	UPROPERTY(EditAnywhere, BlueprintReadWrite, Category = "Storyteller")
	FString ListenerId;

	UPROPERTY(EditAnywhere, BlueprintReadWrite, Category = "Storyteller")
	EGrpcStorytellerV1NpcIntent Intent = EGrpcStorytellerV1NpcIntent::NPC_INTENT_GREET;

	// What the line should respond to, e.g. what the player just said. May be empty.
	UPROPERTY(EditAnywhere, BlueprintReadWrite, Category = "Storyteller", meta = (MultiLine = true))
	FString Situation;

	// Most tokens of the line; 0 = the server's default.
	UPROPERTY(EditAnywhere, BlueprintReadWrite, Category = "Storyteller")
	int32 MaxTokens = 60;

	UPROPERTY(EditAnywhere, BlueprintReadWrite, Category = "Storyteller")
	float Temperature = 0.8f;

	// Feed the finished line's emotion back into the speaker's state on the server.
	UPROPERTY(EditAnywhere, BlueprintReadWrite, Category = "Storyteller")
	bool bApplyToState = false;

	// One of the server's [auth] tokens, sent as "authorization: Bearer <token>"; empty = none.
	UPROPERTY(EditAnywhere, BlueprintReadWrite, Category = "Storyteller")
	FString BearerToken;

	// Seconds each call may take; 0 = no deadline.
	UPROPERTY(EditAnywhere, BlueprintReadWrite, Category = "Storyteller")
	float DeadlineSeconds = 30.f;

	UPROPERTY(EditAnywhere, BlueprintReadWrite, Category = "Storyteller")
	bool bSpeakOnBeginPlay = true;

	// Each piece of text as it arrives, with the line so far (bind a UMG text block to LineSoFar).
	UPROPERTY(BlueprintAssignable, Category = "Storyteller")
	FOnStorytellerTextDelta OnTextDelta;

	// The whole line, the Ekman emotion it reads as, and the codes of any coherence warnings.
	UPROPERTY(BlueprintAssignable, Category = "Storyteller")
	FOnStorytellerLineFinished OnLineFinished;

	// A call failed (status code name and message), or the stream ended without its summary.
	UPROPERTY(BlueprintAssignable, Category = "Storyteller")
	FOnStorytellerLineFailed OnLineFailed;

	// Starts a session first when SessionId is empty, then streams a line.
	UFUNCTION(BlueprintCallable, Category = "Storyteller")
	void Speak();

	// Stops the line being streamed; the server stops generating within one token step.
	UFUNCTION(BlueprintCallable, Category = "Storyteller")
	void CancelLine();

	UFUNCTION(BlueprintPure, Category = "Storyteller")
	FString GetLine() const { return Line; }

protected:
	virtual void BeginPlay() override;
	virtual void EndPlay(const EEndPlayReason::Type EndPlayReason) override;

private:
	UPROPERTY()
	UNarrativeService* NarrativeService = nullptr;

	UPROPERTY()
	UNarrativeServiceClient* NarrativeClient = nullptr;

	FGrpcContextHandle StartSessionHandle;
	FGrpcContextHandle NpcLineHandle;
	FString Line;
	bool bSpeakWhenReady = false;
	bool bStreaming = false;
	bool bCancelled = false;

	void StartSession();
	void StreamLine();
	FGrpcMetaData MakeMetaData() const;
	void Fail(const FString& Code, const FString& Message);

	UFUNCTION()
	void HandleServiceStateChanged(EGrpcServiceState NewState);

	UFUNCTION()
	void HandleStartSessionResponse(FGrpcContextHandle Handle, const FGrpcResult& GrpcResult, const FGrpcStorytellerV1StartSessionResponse& Response);

	UFUNCTION()
	void HandleNpcLineResponse(FGrpcContextHandle Handle, const FGrpcResult& GrpcResult, const FGrpcStorytellerV1GenerationChunk& Chunk);

	UFUNCTION()
	void HandleContextStateChange(FGrpcContextHandle Handle, EGrpcContextState NewState);
};
