"""Dispatch of emergency units (119 fire, 120 ambulance, 110 police) on the one map.

Units belong to departments; calls are located by address, coordinates, grid cell or location
code; the nearest available units of the call's service are recommended by road-network ETA
(``spatial.network.services.closest``); dispatch and status reports are written with an
append-only event log; response-time KPIs are measured against standards read from a YAML file.

Rooms: ``models`` (tables), ``roles`` (who may do what), ``locate`` (where a call is), ``units``
and ``calls`` (the records and their changes), ``recommend``, ``standards`` and ``kpis``,
``seed`` (units from the city's emergency facilities).
"""
