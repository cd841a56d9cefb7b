"""calld: the control plane.

Pure call logic (facts, ivr, acd, stations, calls, control) and the asyncio shell (main).
"""
