"""The simulated card (`sim://`): CO lines, scriptable phones, simulated people, traffic.

Start here: `card.py` (SimCard and its URL), then `network.py` (the tick), `line.py`, `phone.py`,
`people.py`, `listener.py`, `traffic.py`, `control.py`; README.md describes the whole.
"""
