"""A first call to a running Storyteller server: health of each service, then the models.

    python samples/clients/python/quickstart.py [--address 127.0.0.1:50051] [--token T]
"""

from __future__ import annotations

import argparse

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from storyteller.v1 import story_pb2, story_pb2_grpc

SERVICES = ("", "storyteller.v1.StoryService", "storyteller.v1.NarrativeService")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--address", default="127.0.0.1:50051")
    parser.add_argument("--token", help="bearer token, when the server requires one")
    args = parser.parse_args()
    metadata = (("authorization", f"Bearer {args.token}"),) if args.token else ()

    with grpc.insecure_channel(args.address) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        for service in SERVICES:
            status = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=5).status
            print(f"health {service or '(server)'}: {health_pb2.HealthCheckResponse.ServingStatus.Name(status)}")

        story = story_pb2_grpc.StoryServiceStub(channel)
        models = story.DescribeModels(story_pb2.DescribeModelsRequest(), metadata=metadata, timeout=5).models
        print(f"models loaded: {len(models)}")
        for model in models:
            print(f"  {model.name}: task={model.task} quantization={model.quantization} styles={list(model.styles)}")
        try:
            result = story.ClassifyEmotion(
                story_pb2.ClassifyEmotionRequest(texts=["You saved my village. Thank you!"]), metadata=metadata, timeout=10
            )
            print(f"emotion: {result.results[0].top_label}")
        except grpc.RpcError as exc:
            print(f"ClassifyEmotion: {exc.code().name}: {exc.details()}")


if __name__ == "__main__":
    main()
