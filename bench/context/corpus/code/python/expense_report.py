"""Monthly summary of a bank export: totals per category and month, largest expenses."""

import csv
import sys
from collections import defaultdict
from datetime import datetime
from decimal import Decimal

CATEGORY_RULES = [
    ("groceries", ["supermarket", "bakery", "market hall"]),
    ("transport", ["railway", "metro", "fuel", "parking"]),
    ("housing", ["rent", "electricity", "water board"]),
    ("eating out", ["restaurant", "cafe", "pizzeria"]),
]


def categorize(description):
    text = description.lower()
    for category, keywords in CATEGORY_RULES:
        if any(k in text for k in keywords):
            return category
    return "other"


def read_transactions(path):
    """Rows of the bank's CSV: date (DD.MM.YYYY), description, amount with a decimal comma."""
    with open(path, newline="", encoding="utf-8-sig") as f:
        for row in csv.DictReader(f, delimiter=";"):
            amount = Decimal(row["Amount"].replace(".", "").replace(",", "."))
            yield datetime.strptime(row["Date"], "%d.%m.%Y").date(), row["Description"], amount


def monthly_totals(transactions):
    totals = defaultdict(lambda: defaultdict(Decimal))
    for day, description, amount in transactions:
        if amount < 0:
            totals[day.strftime("%Y-%m")][categorize(description)] += -amount
    return totals


def print_report(totals, out=sys.stdout):
    for month in sorted(totals):
        print(month, file=out)
        for category, amount in sorted(totals[month].items(), key=lambda kv: -kv[1]):
            print(f"  {category:<12} {amount:>10.2f}", file=out)


if __name__ == "__main__":
    print_report(monthly_totals(read_transactions(sys.argv[1])))
