"""The process manager: pygeoapi's synchronous one, except that errors keep their status.

pygeoapi 0.21's ``DummyManager`` catches every exception a process raises and answers it as a
400 ``InvalidParameterValue`` ("Error executing process: …"): a 401 for an anonymous write, a
404 for a hidden layer and a real fault (a bug: 500) all came out alike. Here the processor's
exception escapes that catch-all, and is raised again as pygeoapi's ``ProcessorExecuteError``
carrying the domain error's own status and code (``api.ogc.errors``), which pygeoapi's process
API answers with; anything that is not a domain error propagates to the app's fault handler
(500 with a request id).
"""

from __future__ import annotations

from typing import Any

from pygeoapi.process.base import BaseProcessor
from pygeoapi.process.manager.dummy import DummyManager

from api.ogc.errors import processor_error

NAME = "api.ogc.manager.ContractManager"  # the dotted path pygeoapi's configuration names


class _Escaped(BaseException):
    """Carries a processor's exception past DummyManager's ``except Exception``."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


class ContractManager(DummyManager):
    """Synchronous execution, with each process error answered under the one error contract."""

    def get_processor(self, process_id: str) -> BaseProcessor:
        processor = super().get_processor(process_id)
        run = processor.execute

        def execute(data: dict, outputs: dict | None = None) -> Any:
            try:
                return run(data, outputs=outputs)
            except Exception as err:
                raise _Escaped(err) from err

        processor.execute = execute
        return processor

    def execute_process(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().execute_process(*args, **kwargs)
        except _Escaped as escaped:
            wrapped = processor_error(escaped.error)
            raise (wrapped if wrapped is not None else escaped.error) from escaped.error
