package com.example.billing;

import java.math.BigDecimal;
import java.math.RoundingMode;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Totals of an invoice. Money is BigDecimal with two decimals: binary floating point cannot represent 0.10
 * exactly, and a few cents of drift on a thousand-line invoice is a bug report from accounting.
 */
public final class InvoiceCalculator {

    public record Line(String description, int quantity, BigDecimal unitPrice, BigDecimal vatRate) {}

    public record Totals(BigDecimal net, Map<BigDecimal, BigDecimal> vatByRate, BigDecimal gross) {}

    /**
     * VAT is computed per rate on the sum of the lines with that rate, then rounded half-up once, as the
     * tax office expects; rounding each line separately can differ by a cent per line.
     */
    public static Totals totals(List<Line> lines) {
        BigDecimal net = BigDecimal.ZERO;
        Map<BigDecimal, BigDecimal> netByRate = new TreeMap<>();
        for (Line line : lines) {
            BigDecimal amount = line.unitPrice().multiply(BigDecimal.valueOf(line.quantity()));
            net = net.add(amount);
            netByRate.merge(line.vatRate(), amount, BigDecimal::add);
        }
        Map<BigDecimal, BigDecimal> vatByRate = new TreeMap<>();
        BigDecimal vatTotal = BigDecimal.ZERO;
        for (Map.Entry<BigDecimal, BigDecimal> e : netByRate.entrySet()) {
            BigDecimal vat = e.getValue().multiply(e.getKey()).setScale(2, RoundingMode.HALF_UP);
            vatByRate.put(e.getKey(), vat);
            vatTotal = vatTotal.add(vat);
        }
        net = net.setScale(2, RoundingMode.HALF_UP);
        return new Totals(net, vatByRate, net.add(vatTotal));
    }

    /** Early-payment discount: a percentage off the gross total if paid within the given days. */
    public static BigDecimal discountedAmount(BigDecimal gross, BigDecimal percent, int daysSinceIssue, int withinDays) {
        if (daysSinceIssue > withinDays) return gross;
        BigDecimal factor = BigDecimal.ONE.subtract(percent.movePointLeft(2));
        return gross.multiply(factor).setScale(2, RoundingMode.HALF_UP);
    }
}
