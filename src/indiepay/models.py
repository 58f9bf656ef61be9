"""Every table, imported in one place so that migrations and tests see the whole schema."""

from indiepay.accounts.models import ChannelAccount
from indiepay.alerts.models import Alert, AlertChannels, AlertDelivery, AlertRateWindow, SandboxSmsMessage
from indiepay.audit.models import AuditChainHead, AuditEvent
from indiepay.dashboard.models import DashboardSession
from indiepay.db.base import Base
from indiepay.db.jobs.models import Job
from indiepay.idempotency.models import IdempotencyRecord
from indiepay.ledger.models import LedgerAccount, LedgerChainHead, LedgerEntry, LedgerPosting
from indiepay.merchants.models import ApiKey, CollectionModeChange, Merchant
from indiepay.notify.models import ReceivedNotification, RejectedNotification
from indiepay.payments.models import ChannelCall, Payment
from indiepay.reconciliation.models import ReconciliationBill, ReconciliationDifference, ReconciliationRun
from indiepay.refunds.models import Refund
from indiepay.risk.models import RiskDecision, Suspension
from indiepay.settlements.models import Payout, Settlement
from indiepay.sharing.models import SharingLine, SharingOrder, SharingReceiver, SharingReturn
from indiepay.statements.models import Statement
from indiepay.transfers.models import StatementLine
from indiepay.webhooks.models import Event, WebhookDelivery, WebhookEndpoint

metadata = Base.metadata

__all__ = [
    "Alert", "AlertChannels", "AlertDelivery", "AlertRateWindow", "ApiKey", "AuditChainHead", "AuditEvent",
    "ChannelAccount", "ChannelCall", "CollectionModeChange", "DashboardSession",
    "Event", "IdempotencyRecord",
    "Job", "LedgerAccount", "LedgerChainHead", "LedgerEntry", "LedgerPosting", "Merchant", "Payment", "Payout",
    "ReceivedNotification", "ReconciliationBill", "ReconciliationDifference", "ReconciliationRun", "Refund",
    "RejectedNotification", "RiskDecision", "SandboxSmsMessage", "Settlement", "SharingLine", "SharingOrder",
    "SharingReceiver", "SharingReturn", "Statement", "StatementLine", "Suspension",
    "WebhookDelivery",
    "WebhookEndpoint", "metadata",
]
