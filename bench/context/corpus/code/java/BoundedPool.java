package com.example.db;

import java.util.ArrayDeque;
import java.util.Deque;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Predicate;
import java.util.function.Supplier;

/**
 * A pool of at most {@code maxSize} connections. Borrowers wait, up to a timeout, when all are in use;
 * a connection that fails its validity check on borrow is discarded and replaced.
 */
public final class BoundedPool<C extends AutoCloseable> {

    private final Supplier<C> factory;
    private final Predicate<C> isValid;
    private final int maxSize;
    private final Deque<C> idle = new ArrayDeque<>();
    private int created = 0;
    private final ReentrantLock lock = new ReentrantLock();
    private final Condition returned = lock.newCondition();

    public BoundedPool(Supplier<C> factory, Predicate<C> isValid, int maxSize) {
        this.factory = factory;
        this.isValid = isValid;
        this.maxSize = maxSize;
    }

    public C borrow(long timeout, TimeUnit unit) throws InterruptedException, TimeoutException {
        long remaining = unit.toNanos(timeout);
        lock.lock();
        try {
            while (true) {
                while (!idle.isEmpty()) {
                    C c = idle.pollFirst();
                    if (isValid.test(c)) return c;
                    closeQuietly(c);
                    created--;
                }
                if (created < maxSize) {
                    created++;
                    return factory.get();
                }
                if (remaining <= 0) throw new TimeoutException("no connection available within " + timeout + " " + unit);
                remaining = returned.awaitNanos(remaining);
            }
        } finally {
            lock.unlock();
        }
    }

    public void giveBack(C connection) {
        lock.lock();
        try {
            idle.addFirst(connection);  // most recently used first: it is the likeliest to still be alive
            returned.signal();
        } finally {
            lock.unlock();
        }
    }

    private static void closeQuietly(AutoCloseable c) {
        try {
            c.close();
        } catch (Exception ignored) {
            // a broken connection may fail to close; it is being dropped anyway
        }
    }
}
