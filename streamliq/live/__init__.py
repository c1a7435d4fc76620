"""The live daemon: the venues' websocket and REST sources (streamliq/venues/) around a sans-I/O core.

`core.LiveCore` turns records (raw frames with their receive time, REST bodies, outages, clock
ticks) into factor rows without any I/O; the daemon produces those records from the network and
`streamliq replay --recorded` reads them back from a recording, so both give the same rows.
"""
