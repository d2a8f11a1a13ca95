package guestlink

import (
	"strconv"
	"strings"
	"testing"
)

// TestQueueArguments protects the argument checks that every Queuer's
// Enqueue, Due and LeaseQueue share: a queue name outside ValidQueueName is
// refused with an error that names it, which store/badger and store/postgres
// return unchanged, Due without a limit returns at most DefaultDueLimit
// items, and a queue without a bound holds at most DefaultQueueLen, as the
// Queuer interface promises.
func TestQueueArguments(t *testing.T) {
	for _, queue := range []string{"", "a b", "a/b", "hooks\n", "é", strings.Repeat("q", 65)} {
		want := "guestgate store: invalid queue name " + strconv.Quote(queue)
		if err := CheckQueueName(queue); err == nil || err.Error() != want {
			t.Errorf("CheckQueueName(%q) = %v, want %q", queue, err, want)
		}
		if n, err := DueLimit(queue, 5); err == nil || err.Error() != want {
			t.Errorf("DueLimit(%q, 5) = %d, %v, want error %q", queue, n, err, want)
		}
		if n, err := QueueLen(queue, 5); err == nil || err.Error() != want {
			t.Errorf("QueueLen(%q, 5) = %d, %v, want error %q", queue, n, err, want)
		}
	}
	for _, queue := range []string{"webhooks", "a.b_c-D9", strings.Repeat("q", 64)} {
		if err := CheckQueueName(queue); err != nil {
			t.Errorf("CheckQueueName(%q) = %v, want nil", queue, err)
		}
	}
	for limit, want := range map[int]int{-1: DefaultDueLimit, 0: DefaultDueLimit, 1: 1, 1000: 1000} {
		if got, err := DueLimit("webhooks", limit); err != nil || got != want {
			t.Errorf("DueLimit(webhooks, %d) = %d, %v, want %d", limit, got, err, want)
		}
	}
	for maxLen, want := range map[int]int{-1: DefaultQueueLen, 0: DefaultQueueLen, 1: 1, 20000: 20000} {
		if got, err := QueueLen("webhooks", maxLen); err != nil || got != want {
			t.Errorf("QueueLen(webhooks, %d) = %d, %v, want %d", maxLen, got, err, want)
		}
	}
}
