"""What many test modules share, in one place: suites to write, the stored rows to read, the
command line in its own process. Fixtures (the stub server, the in-process CLI) are in
tests/conftest.py; hypothesis strategies in tests/strategies.py."""

from .process import RUN_LINE, run_evalseed, run_id_of
from .runs import FLASH, report_page, run_suite, without_key
from .store import result_rows, select
from .suites import SMALL_SUITE, polarity_responder, polarity_suite, write_suite

__all__ = ["FLASH", "RUN_LINE", "SMALL_SUITE", "polarity_responder", "polarity_suite", "report_page", "result_rows",
           "run_evalseed", "run_id_of", "run_suite", "select", "without_key", "write_suite"]
