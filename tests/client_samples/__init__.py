"""The Unity (C#) and Unreal (C++, TurboLink) client samples against the gRPC contract.

Neither sample can be compiled here (no Unity, no Unreal, no C# or TurboLink code generator), so these
tests read them as text and check that every service, RPC, message, field and enum value they name exists
in proto/storyteller/v1/*.proto, spelled the way each code generator spells it.

- proto_schema.py: the contract, parsed from the .proto text.
- naming.py: the types the checker gives to values; the base of what a generator makes of the contract.
- source_text.py: sample source with comments and literals blanked, tokenized, brackets matched.
- checker.py: the resolution of names that is the same for both languages (how references are found).
- csharp_refs.py, cpp_refs.py: each generator's naming and the checks only its language needs.
- samples.py: check_samples, both checkers over both samples.

Besides checking the samples as they are, the tests rename things in a copy of the .proto text and assert
that the checker reports the samples, and put mistakes into copies of the samples and assert that they are
reported.
"""
