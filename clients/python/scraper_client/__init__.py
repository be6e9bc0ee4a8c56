"""Send scraped profiles to the scraper backend: batched, retried, each batch stored exactly once."""

from .batch import Batch
from .batcher import Batcher
from .client import Client, Delivery, IngestError, RetryPolicy
from .totals import BatchFailure, Rejection, Totals

__all__ = ["Batch", "Batcher", "BatchFailure", "Client", "Delivery", "IngestError", "Rejection", "RetryPolicy",
           "Totals"]
