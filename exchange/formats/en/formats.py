"""How dates and times are shown in the admin and the pages (Django's format strings), in English.

Django's own English formats ("Dec. 4, 2026, 9:22 p.m.") drop the seconds, which staff need to
line an order, a trade or a ledger entry up with a log line or a chain transaction. Times are in
TIME_ZONE (UTC). The API is unaffected (it writes ISO 8601, REST_FRAMEWORK's DATETIME_FORMAT).
"""

DATETIME_FORMAT = "Y-m-d H:i:s"
DATE_FORMAT = "Y-m-d"
TIME_FORMAT = "H:i:s"
SHORT_DATETIME_FORMAT = "Y-m-d H:i"
SHORT_DATE_FORMAT = "Y-m-d"
YEAR_MONTH_FORMAT = "F Y"
MONTH_DAY_FORMAT = "F j"
