"""The wallets app's tables, one module per concern; every model is importable from here.

- ledger: the double-entry ledger, Currency, Account, Transaction, Entry, Hold (and AMOUNT)
- deposits: DepositAddress, Deposit
- reconciliation: ReconciliationRun
- withdrawals: Withdrawal, WithdrawalAddress
- custody: CustodyTransfer
- simchain: the simulated chain's SimAddress, SimBlockHeight, SimTransaction, SimChainFault
"""

# isort: off
# Imported in this order so the models register in the order they always have (apps.get_models()).
from apps.wallets.models.ledger import AMOUNT, Account, Currency, Entry, Hold, Transaction
from apps.wallets.models.deposits import Deposit, DepositAddress
from apps.wallets.models.reconciliation import ReconciliationRun
from apps.wallets.models.withdrawals import Withdrawal, WithdrawalAddress
from apps.wallets.models.custody import CustodyTransfer
from apps.wallets.models.simchain import SimAddress, SimBlockHeight, SimChainFault, SimTransaction

# isort: on

__all__ = [
    "AMOUNT",
    "Account",
    "Currency",
    "CustodyTransfer",
    "Deposit",
    "DepositAddress",
    "Entry",
    "Hold",
    "ReconciliationRun",
    "SimAddress",
    "SimBlockHeight",
    "SimChainFault",
    "SimTransaction",
    "Transaction",
    "Withdrawal",
    "WithdrawalAddress",
]
