"""Location codes: coded plates on street furniture (路灯贴牌) and Open Location Codes (plus codes).

``scheme`` is the plate-code scheme (road + pole number + side + check character), ``placement``
places plates along road centrelines, ``lookup`` finds plates by code and nearest a point,
``plus_codes`` reads and writes plus codes. The table is ``basemap.plate`` (``models``).
"""
