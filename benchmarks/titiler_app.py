"""A minimal TiTiler app serving any COG by ``url=``: the baseline of the imagery tile benchmark.

Run as ``uvicorn benchmarks.titiler_app:app``; the same thing titiler's docs start with.
"""

from fastapi import FastAPI
from titiler.core.errors import DEFAULT_STATUS_CODES, add_exception_handlers
from titiler.core.factory import TilerFactory

app = FastAPI(title="TiTiler baseline")
app.include_router(TilerFactory().router, prefix="/cog")
add_exception_handlers(app, DEFAULT_STATUS_CODES)
