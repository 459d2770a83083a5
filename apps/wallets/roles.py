"""The treasury group (withdrawal review, custody approvals, reconciliation, currencies' withdrawal
halts), kept in step with the wallets' permissions after every migrate (apps.kyc.roles' pattern)."""

from apps.core.roles import ensure_group

TREASURY_GROUP = "Treasury"
TREASURY_PERMISSIONS = [
    ("wallets", "view_withdrawal"),
    ("wallets", "change_withdrawal"),  # the approve and reject actions
    ("wallets", "view_custodytransfer"),
    ("wallets", "change_custodytransfer"),  # approving a refill (four eyes, checked in custody)
    ("wallets", "view_reconciliationrun"),
    ("wallets", "view_currency"),
    ("wallets", "change_currency"),  # halting and resuming a currency's withdrawals
    ("wallets", "view_deposit"),
    ("wallets", "view_depositaddress"),
    ("wallets", "view_withdrawaladdress"),
    ("wallets", "view_account"),
    ("wallets", "view_transaction"),
    ("wallets", "view_entry"),
    ("wallets", "view_hold"),
]


def ensure_treasury_group(**kwargs) -> None:
    ensure_group(TREASURY_GROUP, TREASURY_PERMISSIONS)
