"""calld: the control plane. Pure call logic (facts, ivr, acd, stations, calls, control) + the asyncio shell (main)."""
